"""The output-validation switch: whether emitted FHIR resources are re-validated as built."""

from __future__ import annotations

from ..settings import current

__all__ = ["validating"]


def validating() -> bool:
    """Whether emitted FHIR resources are re-validated with the R4B models as they are built.

    Off by default: the resources are built from knowledge templates validated at load
    time and from fixed shapes that the test suite validates for every example and every
    generated patient. ``Settings(validate_output=True)`` (``CDS_BACKPAIN_VALIDATE_OUTPUT=1``
    at the command line, service or batch) turns it on (about 20 ms per evaluation) for
    debugging or extra assurance.
    """
    return current().validate_output
