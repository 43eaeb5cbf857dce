"""The Spark batch submitted with ``spark-submit`` to a real standalone cluster.

A master and one worker are started from the pyspark install (``spark-class``), bound
to 127.0.0.1; the documented launcher is submitted to them, and its results must equal
the local batch's record by record, its summary the local summary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_support import local_batch, spark_inputs

pytestmark = pytest.mark.spark

pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed (pip install 'cds-backpain[spark]')"
)
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17+: no java on PATH and no JAVA_HOME", allow_module_level=True)

from cds_backpain.batch.spark import LAUNCHER  # noqa: E402
from cds_backpain.kb.loader import load_knowledge  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPARK_HOME = Path(pyspark.__file__).resolve().parent
NOW = "2026-06-01T12:00:00Z"
START_TIMEOUT = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path) -> dict[str, str]:
    return dict(
        os.environ,
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(tmp / "local"),
        SPARK_LOG_DIR=str(tmp / "logs"),
        SPARK_WORKER_DIR=str(tmp / "work"),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_NO_DAEMONIZE="1",
    )


def _daemon(cls: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), cls, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_for(log: Path, proc: subprocess.Popen, text: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"{log.name} exited: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no {text!r} in {log.name} after {START_TIMEOUT} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A standalone master and worker (2 cores, 1 GB) on loopback; yields the master URL."""
    tmp = tmp_path_factory.mktemp("spark-cluster")
    env = _env(tmp)
    port, ui = _free_port(), _free_port()
    master_log, worker_log = tmp / "master.log", tmp / "worker.log"
    master = _daemon(
        "org.apache.spark.deploy.master.Master",
        ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
        env,
        master_log,
    )
    worker = None
    try:
        _wait_for(master_log, master, "I have been elected leader")
        url = f"spark://127.0.0.1:{port}"
        worker = _daemon(
            "org.apache.spark.deploy.worker.Worker",
            [
                *(url, "--host", "127.0.0.1", "--webui-port", str(_free_port())),
                *("--cores", "2", "--memory", "1g", "--work-dir", str(tmp / "work")),
            ],
            env,
            worker_log,
        )
        _wait_for(worker_log, worker, "Successfully registered with master")
        yield url, env
    finally:
        if worker is not None:
            _stop(worker)
        _stop(master)


@pytest.fixture(scope="module")
def export_and_local(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict, dict]:
    """The export, and the local batch's records and summary for it (the reference)."""
    inputs = spark_inputs(tmp_path_factory.mktemp("extra"))
    return inputs, *local_batch(inputs, tmp_path_factory.mktemp("local") / "out", NOW)


def test_the_launcher_path_is_printed_for_spark_submit():
    r = subprocess.run(
        [sys.executable, "-m", "cds_backpain.batch.spark", "--launcher"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and Path(r.stdout.strip()) == Path(LAUNCHER)
    assert Path(LAUNCHER).is_file()


def test_spark_submit_on_a_standalone_cluster_matches_the_local_batch(
    cluster, export_and_local, tmp_path: Path
):
    url, env = cluster
    inputs, records, summary = export_and_local
    out, summary_file = tmp_path / "results", tmp_path / "summary.json"
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.executorEnv.PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT)),
        "spark.executor.memory": "768m",
        "spark.sql.shuffle.partitions": "4",
    }
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", url]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [LAUNCHER, *inputs, "--out", str(out), "--now", NOW, "--summary", str(summary_file)]
    r = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert r.returncode == 0, r.stderr[-4000:]

    parts = sorted(out.glob("part-*"))
    assert parts and all(p.suffix == ".txt" for p in parts)  # what docs/batch.md says
    by_spark = {
        rec["patient"]: rec
        for p in parts
        for rec in map(json.loads, p.read_text(encoding="utf-8").splitlines())
    }
    assert by_spark.keys() == records.keys()
    for patient, record in records.items():
        assert by_spark[patient] == record, patient

    got = json.loads(summary_file.read_text(encoding="utf-8"))
    assert got == json.loads(r.stdout)
    kb = load_knowledge()
    assert got["knowledge"] == {"version": kb.version, "digest": kb.digest}
    assert got["knowledge"] == summary["knowledge"] and got["now"] == summary["now"]
    keys = ("patients", "ok", "failed", "by_status", "by_urgency", "by_imaging", "by_category")
    assert {k: got[k] for k in keys} == {k: summary[k] for k in keys}
