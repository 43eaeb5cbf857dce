"""Choose the rules engine: durable-rules where it imports, the reference engine otherwise."""

from __future__ import annotations

import sys
import threading
import warnings

from ..settings import ENGINE_ENV as ENGINE_ENV  # read at the edges only
from ..settings import current
from .base import Engine
from .reference import ReferenceEngine

__all__ = ["ENGINE_ENV", "get_engine"]

_NAMES = ("durable", "reference")
_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def get_engine(name: str | None = None) -> Engine:
    """The process-wide engine called ``name`` (default: the ``engine`` of the settings in
    force, :func:`cds_backpain.settings.current`, else durable; ``$CDS_BACKPAIN_ENGINE``
    at the edges).

    When durable-rules cannot be imported (not installed, or Python 3.13+ where
    2.0.28 does not load) the reference engine is returned instead, with a
    :class:`RuntimeWarning` naming the reason.
    """
    chosen = (name or current().engine or "durable").strip().lower()
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
