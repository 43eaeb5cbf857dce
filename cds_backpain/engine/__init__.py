"""Rule engines. Both run the same compiled rules and must derive the same conclusions.

* :mod:`.durable` drives durable-rules 2.0.28 with every measured hazard contained.
* :mod:`.reference` is an independent pure-Python forward chainer: the oracle in tests
  and the engine where durable-rules cannot be installed (Python 3.13+).
"""
