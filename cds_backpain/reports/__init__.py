"""The QA and documentation generators: reports over the knowledge base and the bundled
examples. The coverage and the gallery run the whole pipeline, so this package sits above it
(docs/architecture.md, "Layering"):

* :mod:`.catalog`: the rule catalog, docs/rules.md (``cds-backpain knowledge catalog``).
* :mod:`.gallery`: the card gallery, docs/card-gallery.md (``cds-backpain examples --gallery``).
* :mod:`.coverage`: each rule fires in some example and stops firing when its evidence goes
  (``cds-backpain knowledge coverage``).
"""
