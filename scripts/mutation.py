"""Mutation testing of the safety-relevant modules (on demand; not part of the test run).

    .venv/bin/python scripts/mutation.py                       # a seeded sample per module
    .venv/bin/python scripts/mutation.py --sample 0            # every mutant (hours)
    .venv/bin/python scripts/mutation.py --module resolve --sample 40 --seed 7

For each module, cosmic-ray (PyPI) lists every mutant (an operator changed, a constant moved by
one, a comparison flipped, ...), a seeded sample of them is kept, and each is applied in turn
to a scratch copy of this checkout (the tracked files, so the checkout itself is never touched)
and the module's tests are run against it: a mutant is killed when they fail, survives when
they pass. Subprocesses the tests start (the HTTP service) import the scratch copy too
(tests/conftest.py puts it first on PYTHONPATH), so a mutant of ``service/auth.py`` is seen by
the real server.

The tests run per mutant are the ones that exercise the module (``TESTS`` below), not the
whole suite, so the score is a lower bound of the suite's. Results: a table on stdout and,
with ``--json``, a file with every mutant (operator, line, outcome, diff of survivors).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Module under test -> the tests that exercise it (run with -x: the first failure kills).
TESTS: dict[str, tuple[str, list[str]]] = {
    "resolve": (
        "cds_backpain/resolve.py",
        [
            "tests/test_resolve.py",
            "tests/test_parameter_boundaries.py",
            "tests/test_examples.py",
            "tests/test_emit_cards.py",
        ],
    ),
    "extract": (
        "cds_backpain/ingest/extract.py",
        [
            "tests/test_ingest_extract.py",
            "tests/test_ingest.py",
            "tests/test_ingest_errors.py",
            "tests/test_ingest_support.py",
            "tests/test_parameter_boundaries.py",
            "tests/test_examples.py",
        ],
    ),
    "auth": (
        "cds_backpain/service/auth.py",
        ["tests/service/test_auth_inprocess.py", "tests/service/test_auth.py"],
    ),
}


def scratch_copy() -> Path:
    """The tracked files of this checkout, copied to a temporary directory."""
    dest = Path(tempfile.mkdtemp(prefix="cds-mutation-"))
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def signature_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where function annotations are, if the module never evaluates them.

    With ``from __future__ import annotations`` a mutant inside a parameter or return
    annotation (``str | None`` turned ``str * None``) changes nothing at run time: an
    equivalent mutant, left out of the sample. Class-body annotations are kept (pydantic
    evaluates them).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    future = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    if not future:
        return []
    nodes: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            nodes.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            nodes.append(node.annotation)
    return [
        ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in nodes
    ]


def run_module(tree: Path, name: str, sample: int, seed: int, timeout: float) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    module, tests = TESTS[name]
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    config = tree / f"mutation-{name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(' '.join(command))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    session = tree / f"mutation-{name}.sqlite"
    cosmic = [str(Path(sys.executable).with_name("cosmic-ray"))]
    subprocess.run([*cosmic, "init", str(config), str(session)], cwd=tree, check=True)

    with use_db(str(session), WorkDB.Mode.open) as db:
        items = sorted(  # a stable order, so a seed always picks the same mutants
            db.work_items,
            key=lambda w: (w.mutations[0].operator_name, w.mutations[0].occurrence),
        )
        total = len(items)
        spans = signature_spans(tree / module)

        def in_signature(w: object) -> bool:
            pos = w.mutations[0].start_pos  # type: ignore[attr-defined]
            return any(a <= pos < b for a, b in spans)

        in_signatures = sum(1 for w in items if in_signature(w))
        items = [w for w in items if not in_signature(w)]
        keep = items if sample <= 0 else random.Random(seed).sample(items, min(sample, len(items)))
        kept = {w.job_id for w in keep}
        db.set_multiple_results(
            [w.job_id for w in db.work_items if w.job_id not in kept],
            WorkResult(worker_outcome=WorkerOutcome.SKIPPED),
        )

    started = time.monotonic()
    subprocess.run([*cosmic, "exec", str(config), str(session)], cwd=tree, check=True)
    seconds = time.monotonic() - started

    mutants = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if item.job_id not in kept:
                continue
            m = item.mutations[0]
            outcome = (
                result.test_outcome.value
                if result.worker_outcome == WorkerOutcome.NORMAL and result.test_outcome
                else result.worker_outcome.value
            )
            mutants.append(
                {
                    "line": m.start_pos[0],
                    "operator": m.operator_name,
                    "occurrence": m.occurrence,
                    "outcome": outcome,
                    "diff": result.diff if result.test_outcome == TestOutcome.SURVIVED else None,
                }
            )
    counts = {k: sum(1 for m in mutants if m["outcome"] == k) for k in ("killed", "survived")}
    other = len(mutants) - counts["killed"] - counts["survived"]
    scored = counts["killed"] + counts["survived"]
    return {
        "module": module,
        "tests": tests,
        "mutants": total,
        "in_signatures": in_signatures,
        "sampled": len(mutants),
        "killed": counts["killed"],
        "survived": counts["survived"],
        "incompetent_or_timeout": other,
        "score": round(counts["killed"] / scored, 3) if scored else None,
        "seconds": round(seconds),
        "details": sorted(mutants, key=lambda m: (m["line"], m["operator"])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--module", choices=sorted(TESTS), action="append")
    parser.add_argument("--sample", type=int, default=25, help="mutants per module (0: all)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument("--json", type=Path, help="write every mutant's outcome here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)

    tree = scratch_copy()
    results = []
    try:
        for name in args.module or list(TESTS):
            r = run_module(tree, name, args.sample, args.seed, args.timeout)
            results.append(r)
            print(
                f"{r['module']}: {r['killed']} killed, {r['survived']} survived, "
                f"{r['incompetent_or_timeout']} incompetent/timeout of {r['sampled']} sampled "
                f"({r['mutants']} mutants, {r['in_signatures']} of them in annotations, left out); "
                f"score {r['score']}; {r['seconds']} s",
                flush=True,
            )
            for m in r["details"]:  # type: ignore[attr-defined]
                if m["outcome"] == "survived":
                    print(f"  survived: line {m['line']} {m['operator']} #{m['occurrence']}")
    finally:
        if args.keep:
            print(f"scratch copy kept at {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
