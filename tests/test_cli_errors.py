"""Every command-line mistake is caught at start-up: one line on stderr, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_backpain.cli import main

ROOT = Path(__file__).resolve().parents[1]
CAUDA = ROOT / "fhir_examples" / "09-cauda-equina-classic.json"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cds_backpain.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


MISTAKES = {
    "evaluate-now-word": (["evaluate", str(CAUDA), "--now", "yesterday"], "--now"),
    "evaluate-now-end-of-calendar": (
        ["evaluate", str(CAUDA), "--now", "9999-12-31T23:59:59Z"],
        "outside 1900-2199",
    ),
    "examples-now-word": (["examples", "--now", "yesterday"], "not an ISO 8601 instant"),
    "synth-now-word": (["synth", "--patients", "1", "--out", "pop", "--now", "yesterday"], "--now"),
    "serve-now-word": (["serve", "--insecure-dev", "--now", "yesterday"], "--now"),
    "serve-port": (["serve", "--insecure-dev", "--port", "70000"], "--port"),
    "batch-now-word": (["batch", str(ROOT / "tests"), "--out", "o", "--now", "x"], "--now"),
    "batch-on-a-bundle": (
        ["batch", str(CAUDA), "--out", "o"],
        "not a FHIR Bulk Data export: expected NDJSON files",
    ),
    "feedback-report-without-database": (["feedback", "report"], "no feedback database"),
    "unknown-option": (["evaluate", str(CAUDA), "--nw", "x"], "--nw"),
    "unknown-command": (["evalute"], "No such command"),
}


@pytest.mark.parametrize("args,says", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_gets_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args, prog_name="cds-backpain")
    created = list(tmp_path.iterdir())
    assert r.exit_code == 2, r.output[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert lines[0].startswith("cds-backpain")
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert created == []  # nothing created: no database, no output directory


def test_a_mistake_in_a_real_process_prints_no_traceback(tmp_path: Path):
    r = run(tmp_path, "evaluate", str(CAUDA), "--now", "9999-12-31T23:59:59Z")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_config_file_instant_is_checked_before_the_service_starts(tmp_path: Path):
    cfg = tmp_path / "service.yaml"
    cfg.write_text("now: yesterday\ninsecure_dev: true\n", encoding="utf-8")
    r = run(tmp_path, "serve", "--config", str(cfg))
    assert r.returncode == 2 and "now: 'yesterday' is not an ISO 8601 instant" in r.stderr


def test_feedback_report_names_a_missing_sqlite_file_and_does_not_create_it(tmp_path: Path):
    db = tmp_path / "elsewhere" / "feedback.sqlite3"
    r = run(tmp_path, "feedback", "report", "--database", f"sqlite:///{db}")
    assert r.returncode == 2 and str(db) in r.stderr
    assert not db.parent.exists()


def test_help_and_version_still_exit_0(tmp_path: Path):
    assert run(tmp_path, "--version").returncode == 0
    r = run(tmp_path, "evaluate", "--help")
    assert r.returncode == 0 and "--now" in r.stdout


def test_examples_use_their_own_instant_unless_now_overrides_it():
    """What the README says --now changes: the examples are written for their instant."""
    assert CliRunner().invoke(main, ["examples"]).exit_code == 0
    r = CliRunner().invoke(main, ["examples", "--now", "2027-01-01"])
    assert r.exit_code == 1 and "FAIL" in r.stdout
