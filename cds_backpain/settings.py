"""The run-time settings of the package, read from the environment only at the edges.

The library never reads ``os.environ`` on its own: :class:`Settings` (defaults: output not
re-validated, the default canonical base, the durable-rules engine, the bundled
knowledge) is what it uses unless it is given other settings. The command line, the
service and the batch workers read :meth:`Settings.from_env` once when they start, and
pass the result on: to :func:`~cds_backpain.evaluate` as ``settings=``, and to the code
that runs for them with :func:`applied`, much as Starlette's ``Config`` is read once.

=================================  ====================  =============================
environment variable               setting               value
=================================  ====================  =============================
``CDS_BACKPAIN_VALIDATE_OUTPUT``   ``validate_output``   ``1`` re-validates each output
``CDS_BACKPAIN_CANONICAL_BASE``    ``canonical_base``    base URL of emitted canonicals
``CDS_BACKPAIN_ENGINE``            ``engine``            ``durable`` or ``reference``
``CDS_BACKPAIN_KNOWLEDGE``         ``knowledge_root``    a knowledge directory
=================================  ====================  =============================
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CANONICAL_ENV",
    "ENGINE_ENV",
    "KNOWLEDGE_ENV",
    "VALIDATE_OUTPUT_ENV",
    "Settings",
    "applied",
    "current",
]

VALIDATE_OUTPUT_ENV = "CDS_BACKPAIN_VALIDATE_OUTPUT"
CANONICAL_ENV = "CDS_BACKPAIN_CANONICAL_BASE"
ENGINE_ENV = "CDS_BACKPAIN_ENGINE"
KNOWLEDGE_ENV = "CDS_BACKPAIN_KNOWLEDGE"


@dataclass(frozen=True)
class Settings:
    """What a deployment may choose; the defaults are the library's behaviour."""

    #: Re-validate every emitted FHIR resource with the R4B models (about 20 ms a call).
    validate_output: bool = False
    #: Canonical base of emitted URLs (None: the base the knowledge is written with).
    canonical_base: str | None = None
    #: Engine name, ``durable`` or ``reference`` (None: durable).
    engine: str | None = None
    #: Knowledge directory (None: the bundled knowledge).
    knowledge_root: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings named by the environment (``os.environ`` unless ``environ``)."""
        env = os.environ if environ is None else environ
        root = env.get(KNOWLEDGE_ENV)
        return cls(
            validate_output=env.get(VALIDATE_OUTPUT_ENV, "") == "1",
            canonical_base=env.get(CANONICAL_ENV) or None,
            engine=env.get(ENGINE_ENV) or None,
            knowledge_root=Path(root) if root else None,
        )


_DEFAULT = Settings()
_active: ContextVar[Settings] = ContextVar("cds_backpain_settings", default=_DEFAULT)


def current() -> Settings:
    """The settings in force here: those :func:`applied` last, else the defaults."""
    return _active.get()


@contextlib.contextmanager
def applied(settings: Settings) -> Iterator[Settings]:
    """Run the body with ``settings`` in force (for this thread or task and what it starts)."""
    token = _active.set(settings)
    try:
        yield settings
    finally:
        _active.reset(token)
