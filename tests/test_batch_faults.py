"""The batch under faults (issue 12): killed mid-run its workers die with it and a resume
takes over its stale lock; truncated or broken input is named and the affected patients'
results are marked incomplete; files that cannot be read stop the run with their name."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_backpain.batch import runner
from cds_backpain.batch.commands import batch_command
from cds_backpain.batch.runner import BatchError, run_batch
from cds_backpain.batch.summary import read_records
from cds_backpain.batch.synth import write_population

NOW = "2026-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = tmp_path_factory.mktemp("population")
    write_population(export, 60, seed=5, now=NOW)
    return export


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _batch(*args: str):
    return CliRunner().invoke(batch_command, [*args, "--now", NOW, "--no-progress"])


def _records(out: Path) -> dict[str, dict]:
    return {r["patient"]: r for r in read_records(out / "results.ndjson")}


# -- killed runs ------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): read its state
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or runner.start_method() != "fork",
    reason="needs Linux /proc and forked workers",
)
def test_killed_batch_takes_its_workers_along_and_resumes(tmp_path: Path):
    export = tmp_path / "export"
    write_population(export, 1500, seed=9, now=NOW)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "from cds_backpain.cli import main; main()",
        "batch",
        str(export),
        "--out",
        str(out),
        "--now",
        NOW,
        "--workers",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    assert len(workers) >= 2, "the batch finished or never started its workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone_by = time.monotonic() + 5
    while time.monotonic() < gone_by and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers outlived the batch"
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(_records(out)) == 1500


def test_a_lock_held_by_leftovers_of_a_dead_run_is_named(
    population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid}\n")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(out / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(runner, "STALE_LOCK_WAIT_SECONDS", 0.5)
        with pytest.raises(BatchError, match=f"left behind by batch pid {dead.pid}"):
            run_batch([population], out, now=NOW, workers=0, progress=False)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    report = run_batch([population], out, now=NOW, workers=0, progress=False)
    assert report.evaluated == 60  # the lock is free once the leftover is gone


# -- input that cannot be read whole ----------------------------------------------------


def test_a_truncated_ndjson_file_is_named_and_marks_results_incomplete(
    population: Path, tmp_path: Path
):
    export = _copy(population, tmp_path / "export")
    conditions = export / "Condition.000.ndjson"
    data = conditions.read_bytes()
    conditions.write_bytes(data[: int(len(data) * 0.6)])  # cut mid-line
    assert not conditions.read_bytes().endswith(b"\n")
    r = _batch(str(export), "--out", str(tmp_path / "out"), "--workers", "0")
    assert r.exit_code == 3, r.output
    assert "Condition.000.ndjson is truncated" in r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "Condition.000.ndjson" in summary["read"]["truncated_files"]
    records = _records(tmp_path / "out")
    assert len(records) == 60
    assert all(rec.get("incomplete") for rec in records.values())
    assert summary["incomplete"] == 60


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_broken_lines_are_named_and_only_their_patients_marked(population: Path, tmp_path: Path):
    export = _copy(population, tmp_path / "export")
    conditions = export / "Condition.000.ndjson"
    lines = _lines(conditions)
    victim = json.loads(lines[3])["subject"]["reference"]
    text = lines[3].decode()
    cut = text.index('"subject"') + text[text.index('"subject"') :].index("}") + 1
    lines[3] = text[:cut].encode() + b',"code":\n'  # cut after its subject
    conditions.write_bytes(b"".join(lines))
    r = _batch(str(export), "--out", str(tmp_path / "out"), "--workers", "0")
    assert r.exit_code == 3, r.output
    assert f"Condition.000.ndjson line 4 is not JSON ({victim})" in r.output
    records = _records(tmp_path / "out")
    marked = {p for p, rec in records.items() if rec.get("incomplete")}
    assert marked == {victim}
    assert "line 4" in records[victim]["incomplete"][0]


def test_a_broken_line_whose_patient_is_unknown_marks_every_result(
    population: Path, tmp_path: Path
):
    export = _copy(population, tmp_path / "export")
    observations = export / "Observation.000.ndjson"
    lines = _lines(observations)
    lines[0] = lines[0][:25] + b"\n"  # cut before its subject
    observations.write_bytes(b"".join(lines))
    r = _batch(str(export), "--out", str(tmp_path / "out"), "--workers", "0")
    assert r.exit_code == 3, r.output
    assert "Observation.000.ndjson line 1 is not JSON (patient unknown)" in r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["read"]["broken"] == [
        {"file": "Observation.000.ndjson", "line": 1, "patient": None}
    ]
    assert summary["incomplete"] == 60


def test_a_truncated_gzip_file_is_named_and_marks_results_incomplete(
    population: Path, tmp_path: Path
):
    export = _copy(population, tmp_path / "export")
    plain = export / "Observation.000.ndjson"
    packed = gzip.compress(plain.read_bytes())
    plain.unlink()
    (export / "Observation.000.ndjson.gz").write_bytes(packed[: len(packed) // 2])
    r = _batch(str(export), "--out", str(tmp_path / "out"), "--workers", "0")
    assert r.exit_code == 3, r.output
    assert "Observation.000.ndjson.gz is truncated" in r.output
    assert "Traceback" not in r.output


def _unreadable(case: str, where: Path) -> tuple[Path, str]:
    """An input that cannot be read at all, and the words its error must use."""
    if case == "fake gzip":
        bad = where / "fake.ndjson.gz"
        bad.write_bytes(b'{"resourceType": "Patient", "id": "p"}\n')
        return bad, "not a valid gzip file"
    if case == "dangling symlink":
        bad = where / "dangling.ndjson"
        bad.symlink_to(where / "gone.ndjson")
        return bad, "dangling symbolic link"
    if case == "FIFO":
        bad = where / "pipe.ndjson"
        os.mkfifo(bad)
        return bad, "FIFO"
    bad = where / "folder.ndjson"
    bad.mkdir()
    return bad, "a directory"


@pytest.mark.parametrize(
    "case", ["fake gzip", "dangling symlink", "FIFO", "directory named *.ndjson"]
)
@pytest.mark.parametrize("given", ["in a directory", "by name"])
def test_an_input_that_cannot_be_read_is_named_without_a_traceback(
    population: Path, tmp_path: Path, case: str, given: str
):
    export = _copy(population, tmp_path / "export")
    bad, words = _unreadable(case, export)
    args = [str(export)] if given == "in a directory" else [str(export), str(bad)]
    if given == "by name" and case == "dangling symlink":
        args = [str(bad)]
    r = _batch(*args, "--out", str(tmp_path / "out"), "--workers", "0")
    assert r.exit_code in (1, 2), r.output
    assert bad.name in r.output and "Traceback" not in r.output, r.output
    if not (given == "by name" and case == "dangling symlink"):  # click: "does not exist"
        assert words in r.output, r.output
    assert not (tmp_path / "out" / "results.ndjson").exists()  # nothing evaluated


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_a_file_without_read_permission_is_named(population: Path, tmp_path: Path):
    export = _copy(population, tmp_path / "export")
    locked = export / "Condition.000.ndjson"
    locked.chmod(0)
    try:
        r = _batch(str(export), "--out", str(tmp_path / "out"), "--workers", "0")
    finally:
        locked.chmod(0o644)
    assert r.exit_code == 1 and "Condition.000.ndjson: permission denied" in r.output


def test_a_damaged_run_record_is_named_not_a_traceback(population: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"now": ')
    r = _batch(str(population), "--out", str(out), "--workers", "0")
    assert r.exit_code == 1 and "run.json is not a batch's run record" in r.output, r.output
