"""Generated QA and documentation reports over the knowledge base and the bundled examples.

They run the whole pipeline, so they sit above it (docs/architecture.md, "Layering"):

* :mod:`.catalog`: the rule catalog, docs/rules.md (``cds-backpain knowledge catalog``).
* :mod:`.coverage`: each rule fires in some example and stops firing when its evidence goes
  (``cds-backpain knowledge coverage``).
"""
