"""The names ``cds_backpain`` exports (as httpx pins its own), and that each one resolves."""

from __future__ import annotations

import subprocess
import sys

import cds_backpain

EXPORTED = [
    "CdsBackpainError",
    "Conclusion",
    "Derivation",
    "Engine",
    "EngineError",
    "Evaluation",
    "GuidelineCitation",
    "InputLimitError",
    "InternalError",
    "InvalidInputError",
    "Issue",
    "Knowledge",
    "KnowledgeError",
    "KnowledgeStamp",
    "Limits",
    "ParsedJSON",
    "Provenance",
    "Settings",
    "SourceSpan",
    "SuggestionOut",
    "__version__",
    "evaluate",
    "load_knowledge",
    "parse_json",
]


def test_the_exported_names_are_exactly_these():
    assert sorted(cds_backpain.__all__) == EXPORTED


def test_every_exported_name_resolves_and_is_listed_by_dir():
    for name in cds_backpain.__all__:
        assert getattr(cds_backpain, name) is not None, name
    assert set(cds_backpain.__all__) <= set(dir(cds_backpain))


def test_the_types_in_public_signatures_are_the_exported_ones():
    import inspect

    sig = inspect.signature(cds_backpain.evaluate, eval_str=True)
    assert sig.return_annotation is cds_backpain.Evaluation
    assert sig.parameters["limits"].annotation == cds_backpain.Limits | None
    assert sig.parameters["knowledge"].annotation == cds_backpain.Knowledge | None
    assert cds_backpain.Engine.__name__ in str(sig.parameters["engine"].annotation)
    assert sig.parameters["settings"].annotation == cds_backpain.Settings | None
    assert cds_backpain.ParsedJSON.__name__ in str(sig.parameters["data"].annotation)
    fields = cds_backpain.Evaluation.model_fields
    assert fields["issues"].annotation == tuple[cds_backpain.Issue, ...]
    assert fields["knowledge"].annotation is cds_backpain.KnowledgeStamp


def test_importing_the_package_does_not_load_fhir_models_or_engines():
    code = (
        "import sys, cds_backpain; "
        "print(sorted(m for m in ('fhir.resources', 'cds_backpain.pipeline', 'durable') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    try:
        cds_backpain.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")
