"""Choose the rules engine: durable-rules where it imports, the reference engine otherwise."""

from __future__ import annotations

import os
import sys
import threading
import warnings

from .base import Engine
from .reference import ReferenceEngine

__all__ = ["ENGINE_ENV", "get_engine"]

#: Environment variable naming the engine ("durable" or "reference") when none is given.
ENGINE_ENV = "CDS_BACKPAIN_ENGINE"
_NAMES = ("durable", "reference")
_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def get_engine(name: str | None = None) -> Engine:
    """The process-wide engine called ``name`` (default: ``$CDS_BACKPAIN_ENGINE``, else durable).

    When durable-rules cannot be imported (not installed, or Python 3.13+ where
    2.0.28 does not load) the reference engine is returned instead, with a
    :class:`RuntimeWarning` naming the reason.
    """
    chosen = (name or os.environ.get(ENGINE_ENV) or "durable").strip().lower()
    if chosen not in _NAMES:
        raise ValueError(f"unknown engine {chosen!r}; choose one of {', '.join(_NAMES)}")
    with _lock:
        engine = _engines.get(chosen)
        if engine is None:
            engine = _engines[chosen] = _create(chosen)
        return engine


def _create(name: str) -> Engine:
    if name == "reference":
        return ReferenceEngine()
    try:
        from .durable import DurableEngine
    except ImportError as exc:
        version = ".".join(map(str, sys.version_info[:3]))
        warnings.warn(
            f"durable-rules is unavailable on Python {version} ({exc}); "
            "using the pure-Python reference engine",
            RuntimeWarning,
            stacklevel=3,
        )
        return _engines.setdefault("reference", ReferenceEngine())
    return DurableEngine()
