"""Test kit for QA teams: hypothesis strategies for this domain's FHIR R4 input and the
invariants every evaluation must satisfy.

    from hypothesis import given
    from cds_backpain import evaluate
    from cds_backpain.testing import EXAMPLE_NOW, patient_bundles
    from cds_backpain.testing.invariants import check_all_invariants

    @given(patient_bundles())
    def test_every_evaluation_is_sound(bundle):
        check_all_invariants(evaluate(bundle, now=EXAMPLE_NOW), data=bundle)

Guide: docs/qa.md. Strategies draw codes from ``knowledge/valuesets`` and rules from
``knowledge/rules`` (loaded on first draw, or pass ``knowledge=``).

Needs the ``qa`` extra (``pip install 'cds-backpain[qa]'``, which brings hypothesis).
"""

try:
    import hypothesis  # noqa: F401 - the whole kit is built on it
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess test
    if exc.name != "hypothesis":
        raise
    raise ModuleNotFoundError(
        "cds_backpain.testing needs hypothesis: install the QA extra with "
        "pip install 'cds-backpain[qa]' (or '.[qa]' from a checkout)",
        name=exc.name,
    ) from None

from .builders import EXAMPLE_NOW
from .cases import (
    RuleCase,
    category_bundles,
    mechanical_bundles,
    red_flag_bundles,
    red_flag_cases,
    red_flag_rules,
    rule_cases,
)
from .shapes import REWRITES, Reshaped, reshaped
from .strategies import (
    NEGATION_FORMS,
    clinical_resources,
    codings,
    conditions,
    finding_observations,
    imaging_orders,
    measure_observations,
    medication_courses,
    negated_twin,
    negation_twins,
    patient_bundles,
    patients,
    unrelated_resources,
)

__all__ = [
    "EXAMPLE_NOW",
    "NEGATION_FORMS",
    "REWRITES",
    "Reshaped",
    "RuleCase",
    "category_bundles",
    "clinical_resources",
    "codings",
    "conditions",
    "examples",
    "finding_observations",
    "imaging_orders",
    "measure_observations",
    "mechanical_bundles",
    "medication_courses",
    "negated_twin",
    "negation_twins",
    "patient_bundles",
    "patients",
    "red_flag_bundles",
    "red_flag_cases",
    "red_flag_rules",
    "reshaped",
    "rule_cases",
    "unrelated_resources",
]


def examples(default: int) -> int:
    """How many examples a property should try: ``$CDS_BACKPAIN_FUZZ_EXAMPLES`` if set
    (the long, on-demand budget), else ``default`` (the quick budget of the test run)."""
    import os

    value = os.environ.get("CDS_BACKPAIN_FUZZ_EXAMPLES", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default
