"""The two request validators (``service/schema.py``): the compiled one may only say
"valid" where the reference (python-jsonschema) says so too, since a yes from it skips
the reference. Regex dialects differ (ECMA 262 against Python ``re``), so this is a
differential property over inputs built to sit on those differences."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_backpain.service.schema import fast_validator, problems, validator

UUID = "0b5c7a52-3c1e-4a3b-9a51-2f6f1d0e9c11"
BASES: dict[str, dict[str, Any]] = {
    "PatientViewRequest": {
        "hook": "patient-view",
        "hookInstance": UUID,
        "fhirServer": "https://ehr.example.org/fhir",
        "fhirAuthorization": {
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-backpain",
        },
        "context": {"userId": "Practitioner/dr-1", "patientId": "pat-1", "encounterId": "e.1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "pat-1"}, "conditions": None},
    },
    "OrderSelectRequest": {
        "hook": "order-select",
        "hookInstance": UUID,
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": "pat-1",
            "selections": ["ServiceRequest/sr-1"],
            "draftOrders": {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "sr-1"}}],
            },
        },
    },
    "FeedbackRequest": {
        "feedback": [
            {
                "card": UUID,
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "not-relevant", "system": "https://x.org"}},
                "outcomeTimestamp": "2026-06-01T12:00:00Z",
            }
        ]
    },
}

#: Characters on which the regex dialects disagree (Unicode digits and spaces, the
#: separators Python counts as whitespace, a final newline before ``$``) plus ordinary ones.
TRICKY = (
    "\n\r\t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000\ufeff"
    "\u0661\u0966\uff10\u00e9\u0130\u212a/?#:.-_~ "
)
ORDINARY = "0123456789abcdefABCDEFPatienthps"


def _leaves(doc: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))] + [path]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))] + [path]
    return [path]


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


tricky_text = st.text(alphabet=st.sampled_from(TRICKY + ORDINARY), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn, definition: str) -> Any:
    """A valid request with one to three values changed: a string edited with tricky
    characters (prefix, suffix or middle), or any JSON value."""
    doc = copy.deepcopy(BASES[definition])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_leaves(doc)))
        old = _get(doc, path)
        if isinstance(old, str) and draw(st.booleans()):
            cut = draw(st.integers(0, len(old)))
            new = old[:cut] + draw(tricky_text) + old[cut + draw(st.integers(0, 2)) :]
        else:
            new = draw(json_values)
        doc = _set(doc, path, new)
    return doc


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_fast_validator_never_accepts_what_the_reference_rejects(data):
    definition = data.draw(st.sampled_from(sorted(BASES)))
    doc = data.draw(mutated(definition))
    if fast_validator(definition).is_valid(doc):
        assert validator(definition).is_valid(doc), doc
    # And the answer the service acts on is the reference's.
    assert (problems(definition, doc) == []) == validator(definition).is_valid(doc)


#: Every string of the requests that a ``pattern`` constrains, by path.
PATTERNED = [
    ("PatientViewRequest", ("hookInstance",)),
    ("PatientViewRequest", ("fhirServer",)),
    ("PatientViewRequest", ("context", "userId")),
    ("PatientViewRequest", ("context", "patientId")),
    ("PatientViewRequest", ("context", "encounterId")),
    ("PatientViewRequest", ("prefetch", "patient", "resourceType")),
    ("OrderSelectRequest", ("context", "selections", 0)),
    ("OrderSelectRequest", ("context", "draftOrders", "entry", 0, "resource", "resourceType")),
    ("FeedbackRequest", ("feedback", 0, "outcomeTimestamp")),
]


@settings(max_examples=600, deadline=None)
@given(
    target=st.sampled_from(PATTERNED),
    cut=st.integers(0, 60),
    drop=st.integers(0, 2),
    insert=tricky_text,
)
def test_patterned_strings_agree(target, cut, drop, insert):
    definition, path = target
    doc = copy.deepcopy(BASES[definition])
    old = _get(doc, path)
    cut = min(cut, len(old))
    _set(doc, path, old[:cut] + insert + old[cut + drop :])
    if fast_validator(definition).is_valid(doc):
        assert validator(definition).is_valid(doc), _get(doc, path)


def test_valid_requests_take_the_fast_path():
    for definition, doc in BASES.items():
        assert fast_validator(definition).is_valid(doc), definition
        assert problems(definition, doc) == []


def test_known_dialect_edges():
    url = BASES["PatientViewRequest"]
    for bad in ("https://ehr.example.org/\x1cfhir", "https://ehr\x85.org", "https://a b"):
        doc = {**url, "fhirServer": bad}
        assert problems("PatientViewRequest", doc), bad
