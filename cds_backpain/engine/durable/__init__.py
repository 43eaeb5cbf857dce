"""The durable-rules 2.0.28 backend, with every measured hazard contained.

* :mod:`.engine`: :class:`DurableEngine`, which runs compiled rules through durable-rules'
  C Rete and returns exactly what the reference engine returns (hazards D1-D11).
* :mod:`.plan`: compiles :class:`~cds_backpain.engine.compiled.CompiledRules` into a
  durable ruleset, refusing rule bases beyond durable-rules' measured limits.
* :mod:`.encode`: the integer tables a compiled plan holds and the fact encoder that uses
  them (only small integers ever reach durable-rules).
* :mod:`.safe_json`: JSON text durable-rules' parser reads the way Python wrote it.

Importing this package imports durable-rules (``ImportError`` on Python 3.13+, D11).
"""

from .engine import DurableEngine

__all__ = ["DurableEngine"]
