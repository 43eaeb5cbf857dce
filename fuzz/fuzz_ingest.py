"""atheris (libFuzzer) harness for the ingest entry point: bytes in, a result or a refusal out.

    .venv/bin/pip install atheris            # or: pip install 'cds-backpain[fuzz]'
    .venv/bin/python fuzz/fuzz_ingest.py fuzz/corpus -max_total_time=300

Every input must give facts or an InvalidInputError carrying a FHIR OperationOutcome
(not the safety net's internal-error one); anything else is a crash that libFuzzer
reports and saves as ``crash-<sha1>``.
Replay one with ``.venv/bin/python fuzz/fuzz_ingest.py crash-<sha1>``. The seed corpus is
the bundled examples (``fuzz/corpus`` is created from them on first run).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from cds_backpain import InvalidInputError
    from cds_backpain.ingest import Limits, ingest
    from cds_backpain.kb.loader import load_knowledge

KB = load_knowledge()
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
LIMITS = Limits(max_bytes=200_000, max_entries=200, max_depth=40, max_string=10_000)
ROOT = Path(__file__).resolve().parent.parent


def test_one_input(data: bytes) -> None:
    try:
        got = ingest(data, valuesets=KB.valuesets, parameters=KB.parameters, now=NOW, limits=LIMITS)
    except InvalidInputError as err:
        outcome = err.outcome
        if outcome.get("resourceType") != "OperationOutcome" or not outcome.get("issue"):
            raise AssertionError(f"refusal without an OperationOutcome: {outcome!r}") from err
        if any(i.get("code") == "exception" for i in outcome["issue"]):
            # the safety net caught a defect of ours: report it as the crash it is
            raise (err.__cause__ or err) from None
        return
    for fact in got.facts:
        if fact.kind not in ("patient", "finding", "measure", "med", "order"):
            raise AssertionError(f"ingest made a {fact.kind} fact")


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        return
    for path in sorted((ROOT / "fhir_examples").glob("*.json")):
        if not path.name.endswith(".expected.json"):
            (directory / path.name).write_bytes(path.read_bytes())


if __name__ == "__main__":
    dirs = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and not Path(a).is_file()]
    for d in dirs:
        seed_corpus(d)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
