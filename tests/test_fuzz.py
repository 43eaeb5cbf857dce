"""Fuzz: nothing a caller sends crashes, hangs or gets a silently wrong answer.

Inputs: arbitrary JSON values, FHIR-shaped JSON, raw bytes (invalid UTF-8 included),
valid generated bundles damaged by dropping, duplicating or corrupting fields, hostile
text in displays, small configured limits, and the command line. Every input must give
either an :class:`~cds_backpain.Evaluation` that satisfies every invariant of
:mod:`cds_backpain.testing.invariants` or an :class:`~cds_backpain.InvalidInputError`
carrying a valid FHIR OperationOutcome, within a time bound.

The quick budget runs in the default test run; ``CDS_BACKPAIN_FUZZ_EXAMPLES=5000``
gives the long run (docs/qa.md). The numbers of inputs tried are printed at the end
of the module (``pytest -s``).
"""

from __future__ import annotations

import collections
import copy
import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cds_backpain import Evaluation, InputLimitError, InvalidInputError, evaluate
from cds_backpain.cli import main as cli
from cds_backpain.ingest import Limits
from cds_backpain.testing import (
    EXAMPLE_NOW,
    examples,
    patient_bundles,
    red_flag_bundles,
    red_flag_cases,
)
from cds_backpain.testing import invariants as inv

run = functools.partial(evaluate, now=EXAMPLE_NOW)
#: Wall-clock bound of one evaluation of a fuzzed input (the largest are ~200 kB).
MAX_SECONDS = 5.0
TRIED: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()


def budget(n: int) -> settings:
    return settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    total = sum(TRIED.values())
    print(f"\nfuzz: {total} inputs tried: {dict(TRIED)}; outcomes: {dict(OUTCOMES)}")


def check_outcome(outcome: Any) -> None:
    """A FHIR R4 OperationOutcome with at least one error issue that says something, and
    not the safety net's "internal error" (issue code ``exception``): that one means a
    defect of ours met the input, which is a bug to fix even though nothing crashed."""
    OperationOutcome.model_validate(outcome)
    issues = outcome["issue"]
    assert issues, "an OperationOutcome without issues"
    assert any(i["severity"] in ("error", "fatal") for i in issues), issues
    for i in issues:
        assert i.get("diagnostics"), f"issue without diagnostics: {i}"
        assert i.get("code") != "exception", f"an internal error behind a refusal: {i}"


def attempt(kind: str, data: Any, *, limits: Limits | None = None) -> Evaluation | None:
    """Evaluate ``data``: an Evaluation that satisfies the invariants, or a clear refusal."""
    TRIED[kind] += 1
    start = time.perf_counter()
    try:
        ev = run(data, limits=limits)
    except InvalidInputError as err:
        elapsed = time.perf_counter() - start
        assert elapsed < MAX_SECONDS, f"refusal took {elapsed:.1f}s"
        if any(i.get("code") == "exception" for i in err.outcome.get("issue", [])):
            cause = err.__cause__
            raise AssertionError(f"an internal error behind a refusal: {cause!r}") from cause
        check_outcome(err.outcome)
        OUTCOMES["InputLimitError" if isinstance(err, InputLimitError) else "InvalidInput"] += 1
        return None
    elapsed = time.perf_counter() - start
    assert elapsed < MAX_SECONDS, f"evaluation took {elapsed:.1f}s"
    OUTCOMES["evaluated"] += 1
    structured = data if isinstance(data, dict | list) else None
    inv.check_all_invariants(ev, data=structured)
    return ev


# -- arbitrary input -------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)

#: Names and values FHIR input is made of, so that fuzzed JSON gets past the first checks.
FHIR_KEYS = (
    *("resourceType", "id", "type", "entry", "resource", "fullUrl", "subject", "reference"),
    *("code", "coding", "system", "display", "text", "status", "clinicalStatus"),
    *("verificationStatus", "valueBoolean", "valueQuantity", "valueCodeableConcept", "value"),
    *("unit", "onsetDateTime", "effectiveDateTime", "birthDate", "gender", "intent"),
    *("medicationCodeableConcept", "effectivePeriod", "start", "end", "meta", "profile"),
    *("contained", "extension", "url", "bodySite", "authoredOn"),
)
FHIR_VALUES = st.sampled_from(
    [
        "Bundle",
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "ServiceRequest",
        "collection",
        "transaction",
        "Patient/p",
        "Patient/q",
        "active",
        "final",
        "refuted",
        "entered-in-error",
        "http://snomed.info/sct",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "192970008",
        "G83.4",
        "2026-06-01T12:00:00Z",
        "1900-01-01",
        "3026-01-01",
        "p",
    ]
)
fhir_shaped = st.recursive(
    st.one_of(scalars, FHIR_VALUES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FHIR_KEYS), inner, max_size=6),
    ),
    max_leaves=30,
)


@budget(150)
@given(json_values)
def test_arbitrary_json_values(value):
    attempt("json-value", value)


@budget(150)
@given(fhir_shaped)
def test_fhir_shaped_json(value):
    attempt("fhir-shaped", value)
    attempt("fhir-shaped-text", json.dumps(value))


@budget(100)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_arbitrary_bytes_and_text(raw):
    attempt("bytes", raw)


@budget(60)
@given(patient_bundles(max_resources=4), st.data())
def test_damaged_encodings(bundle, data):
    raw = bytearray(json.dumps(bundle).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    attempt("damaged-bytes", bytes(raw))


# -- damaged valid bundles ----------------------------------------------------------------


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*path, i)))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


MUTATIONS = ("drop", "duplicate", "replace", "retype", "nest", "huge-string", "swap-type")


@st.composite
def damaged_bundles(draw: st.DrawFn) -> dict:
    """A valid bundle with 1-3 fields dropped, duplicated, replaced or retyped."""
    doc = copy.deepcopy(
        draw(st.one_of(patient_bundles(max_resources=5), red_flag_bundles(max_noise=2)))
    )
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(MUTATIONS))
        if op == "drop":
            del parent[key]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[key] = [copy.deepcopy(parent[key])] * 2
        elif op == "replace":
            parent[key] = draw(st.one_of(scalars, FHIR_VALUES))
        elif op == "retype":
            value = parent[key]
            parent[key] = json.dumps(value) if not isinstance(value, str) else {"value": value}
        elif op == "nest":
            parent[key] = functools.reduce(lambda v, _: [v], range(draw(st.integers(1, 80))), 0)
        elif op == "huge-string":
            parent[key] = "A" * draw(st.sampled_from([10_000, 150_000]))
        elif op == "swap-type" and isinstance(parent, dict) and "resourceType" in parent:
            parent["resourceType"] = draw(
                st.sampled_from(["Patient", "Condition", "Observation", "Bundle", "Nonsense"])
            )
    return doc


def _pinned(**fields: Any) -> dict:
    patient = {"resourceType": "Patient", "id": "p"}
    entry = {"fullUrl": "urn:uuid:5d3f1f6e-0000-4000-8000-000000000001", "resource": patient}
    return {"resourceType": "Bundle", "type": "collection", "entry": [entry], **fields}


# Counterexamples the fuzz suite found, pinned (docs/qa.md section 3).
@example(bundle=_pinned(type=["collection"]))  # TypeError: unhashable type 'list'
@example(bundle=_pinned(type={"value": "collection"}))  # TypeError: unhashable type 'dict'
@budget(150)
@given(damaged_bundles())
def test_damaged_bundles(bundle):
    attempt("damaged-bundle", bundle)


@budget(40)
@given(red_flag_cases(), st.sampled_from(["second-patient", "foreign-subject", "duplicate-id"]))
def test_identity_damage_is_refused_never_misattributed(case, damage):
    """Another patient's data in the input is refused, never evaluated as this patient's."""
    doc = copy.deepcopy(case.bundle)
    entries = doc["entry"]
    target = next(e for e in entries if e["resource"]["resourceType"] != "Patient")
    if damage == "second-patient":
        entries.append(
            {
                "fullUrl": "urn:uuid:5d3f1f6e-0000-4000-8000-000000000002",
                "resource": {"resourceType": "Patient", "id": "someone-else"},
            }
        )
    elif damage == "foreign-subject":
        target["resource"]["subject"] = {"reference": "Patient/someone-else"}
    else:
        twin = copy.deepcopy(target)
        twin["fullUrl"] = "urn:uuid:5d3f1f6e-0000-4000-8000-000000000003"
        entries.append(twin)
    ev = attempt(f"identity-{damage}", doc)
    assert ev is None, f"{damage}: evaluated instead of refused ({ev and ev.urgency})"


# -- limits -------------------------------------------------------------------------------


@budget(40)
@given(
    red_flag_bundles(max_noise=3),
    st.builds(
        Limits,
        max_bytes=st.integers(200, 20_000),
        max_entries=st.integers(1, 6),
        max_depth=st.integers(2, 12),
        max_string=st.integers(5, 200),
    ),
)
def test_small_limits_are_named_when_hit(bundle, limits):
    try:
        ev = run(bundle, limits=limits)
    except InputLimitError as err:
        TRIED["limits"] += 1
        check_outcome(err.outcome)
        text = json.dumps(err.outcome)
        assert any(name in text for name in ("max_bytes", "max_entries", "max_depth", "max_string"))
        return
    except InvalidInputError as err:  # e.g. a limit cut nothing but something else is wrong
        TRIED["limits"] += 1
        raise AssertionError(f"a valid bundle refused: {err.outcome}") from err
    TRIED["limits"] += 1
    inv.check_all_invariants(ev, data=bundle)


# -- hostile text (cards never carry input text as Markdown or HTML) -----------------------

HOSTILE = st.one_of(
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click me](https://evil.example.com/x)",
            "![x](https://evil.example.com/i.png)",
            "https://evil.example.com/phish",
            "www.evil.example.com",
            "evil@example.com",
            "**bold** _em_ `code` # heading",
            "<a href='javascript:alert(1)'>x</a>",
            "&lt;script&gt;",
            "\u202eevil\u202c",
        ]
    ),
    st.text(min_size=1, max_size=40),
)


def _poison(doc: Any, texts: list[str], i: list[int]) -> None:
    if isinstance(doc, dict):
        for key in list(doc):
            if key in ("display", "text") and isinstance(doc[key], str):
                doc[key] = texts[i[0] % len(texts)]
                i[0] += 1
            else:
                _poison(doc[key], texts, i)
        code = doc.get("code")
        if isinstance(code, dict) and "coding" in code and "text" not in code:
            code["text"] = texts[i[0] % len(texts)]
            i[0] += 1
    elif isinstance(doc, list):
        for v in doc:
            _poison(v, texts, i)


@budget(60)
@given(red_flag_cases(max_noise=2), st.lists(HOSTILE, min_size=1, max_size=4))
def test_hostile_display_text_never_reaches_card_markdown(case, texts):
    doc = copy.deepcopy(case.bundle)
    _poison(doc, texts, [0])
    ev = attempt("hostile-text", doc)
    assume(ev is not None)
    inv.check_markdown_safe(ev)
    cards = json.dumps(ev.cards, ensure_ascii=False)
    clean = json.dumps(run(case.bundle).cards, ensure_ascii=False)
    for t in texts:
        if len(t.strip()) >= 4 and t not in clean:
            assert t not in cards, f"input text {t!r} reached a card verbatim"


# -- the command line ---------------------------------------------------------------------


@budget(40)
@given(
    st.one_of(
        st.binary(max_size=200),
        fhir_shaped.map(lambda v: json.dumps(v).encode()),
        damaged_bundles().map(lambda b: json.dumps(b).encode()),
    )
)
def test_command_line_answers_json_or_an_operation_outcome(tmp_path_factory, raw):
    path: Path = tmp_path_factory.mktemp("cli") / "input.json"
    path.write_bytes(raw)
    TRIED["cli"] += 1
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--now", "2026-06-01T12:00:00Z"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )
    assert result.exit_code in (0, 2), (result.exit_code, result.stdout[-500:])
    body = json.loads(result.stdout)
    if result.exit_code == 2:
        check_outcome(body)
    else:
        assert "urgency" in body and "cards" in body
