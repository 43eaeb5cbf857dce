"""The value types of a conclusion besides its category (see the package docstring)."""

from __future__ import annotations

from typing import Literal

Urgency = Literal["self_care", "routine", "urgent", "emergency"]
Imaging = Literal["none", "xray", "mri", "urgent_mri", "ct"]
Rating = Literal["appropriate", "not-appropriate", "no-criteria-apply"]
Support = Literal["advice", "urgency", "imaging", "background"]
#: The side of a finding (a code's ``laterality`` extension, or its bodySite qualifier).
Laterality = Literal["left", "right", "bilateral"]
#: The modality of an imaging order (a value set's ``imaging-modality`` extension).
Modality = Literal["xray", "mri", "ct"]

#: What a provenance item can be evidence for (the order the outputs list them in).
SUPPORTS: tuple[str, ...] = ("advice", "urgency", "imaging", "background")
