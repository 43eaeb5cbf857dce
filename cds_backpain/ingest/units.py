"""Convert Observation quantities to a concept's canonical UCUM unit.

Only exact, well-known unit codes are converted; anything else is refused (None),
never guessed. The keys are UCUM codes plus a few unambiguous display spellings
that EHRs put in ``Quantity.unit``.
"""

from __future__ import annotations

from collections.abc import Callable

_LB = 0.45359237
_MILE = 1.609344

#: canonical unit -> {input unit -> conversion to the canonical unit}
_CONVERSIONS: dict[str, dict[str, Callable[[float], float]]] = {
    "Cel": {
        "Cel": lambda v: v,
        "°C": lambda v: v,
        "degC": lambda v: v,
        "[degF]": lambda v: (v - 32.0) * 5.0 / 9.0,
        "degF": lambda v: (v - 32.0) * 5.0 / 9.0,
        "°F": lambda v: (v - 32.0) * 5.0 / 9.0,
        "K": lambda v: v - 273.15,
    },
    "kg": {
        "kg": lambda v: v,
        "g": lambda v: v / 1000.0,
        "[lb_av]": lambda v: v * _LB,
        "lb": lambda v: v * _LB,
        "lbs": lambda v: v * _LB,
    },
    "km": {
        "km": lambda v: v,
        "m": lambda v: v / 1000.0,
        "[mi_i]": lambda v: v * _MILE,
        "mi": lambda v: v * _MILE,
    },
    "%": {"%": lambda v: v},
    # A score is a count on its own scale: unitless spellings are all the same thing.
    "{score}": {"{score}": lambda v: v, "{Score}": lambda v: v, "1": lambda v: v, "": lambda v: v},
}


def canonical_units() -> frozenset[str]:
    """Canonical units this module can convert to."""
    return frozenset(_CONVERSIONS)


def convert(value: float, unit: str | None, canonical: str) -> float | None:
    """``value`` in ``unit`` expressed in ``canonical``; None if the unit is not known for it."""
    table = _CONVERSIONS.get(canonical)
    if table is None:
        # A canonical unit this module does not know: accept only that exact unit.
        return value if unit == canonical else None
    fn = table.get("" if unit is None else unit.strip())
    return None if fn is None else fn(value)
