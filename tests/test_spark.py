"""The Spark batch (local mode) gives the same results as the local batch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from batch_support import (
    library_conclusions,
    local_batch,
    spark_inputs,
    write_examples_export,
)

pytestmark = pytest.mark.spark

pytest.importorskip(
    "pyspark", reason="pyspark is not installed (pip install 'cds-backpain[spark]')"
)
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17+: no java on PATH and no JAVA_HOME", allow_module_level=True)

from cds_backpain.batch.spark import (  # noqa: E402
    RESULT_SCHEMA,
    KnowledgeMismatchError,
    build_session,
    check_knowledge,
    evaluate_export,
    summarize_results,
    tally,
    write_results,
)
from cds_backpain.kb.loader import load_knowledge  # noqa: E402

NOW = "2026-06-01T12:00:00Z"
LBP_PATIENTS = {
    "Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb",
    "Patient/fb7c882a-f897-e7c5-67e0-825e7fd55d15",
}


@pytest.fixture(scope="module")
def spark():
    session = build_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return spark_inputs(tmp_path_factory.mktemp("extra"))


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], dict]:
    return local_batch(inputs, tmp_path_factory.mktemp("local") / "out", NOW)


def test_spark_and_local_batch_agree_on_every_patient(spark, inputs, local, tmp_path: Path):
    records, summary = local
    results = evaluate_export(spark, inputs, now=NOW).cache()
    by_spark = {r["patient"]: json.loads(r["record"]) for r in results.collect()}
    assert by_spark == records
    for ref in LBP_PATIENTS:
        assert by_spark[ref]["status"] == "ok" and by_spark[ref]["conclusions"]
    joined = by_spark["Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb"]
    assert "MedicationRequest/mr-ibu" in {e for c in joined["conclusions"] for e in c["evidence"]}

    keys = ("patients", "ok", "failed", "by_status", "by_urgency", "by_imaging", "by_category")
    counts = tally(results)
    assert {k: v for k, v in summarize_results(results, counts).items() if k in keys} == {
        k: summary[k] for k in keys
    }
    assert check_knowledge(results, load_knowledge(), counts) == summary["knowledge"]

    write_results(results, str(tmp_path / "ndjson"), "ndjson")
    lines = [
        json.loads(line)
        for f in (tmp_path / "ndjson").glob("part-*")
        for line in f.read_text().splitlines()
    ]
    assert {r["patient"]: r for r in lines} == records

    write_results(results, str(tmp_path / "parquet"), "parquet")
    back = spark.read.parquet(str(tmp_path / "parquet"))
    assert back.count() == 13
    flagged = {r["patient"] for r in back.where("size(conclusions) > 0").collect()}
    assert flagged == LBP_PATIENTS


def test_spark_concludes_what_the_library_concludes_for_every_example(spark, tmp_path):
    """Every resource type evaluate() reads reaches it (a post-discectomy Procedure was
    dropped, and with it the prompt spine review)."""
    export = write_examples_export(tmp_path / "examples")
    rows = evaluate_export(spark, [str(export)], now=NOW).collect()
    got = {
        r["patient"]: sorted(c["id"] for c in json.loads(r["record"])["conclusions"]) for r in rows
    }
    assert got == library_conclusions()


def test_results_from_executors_with_other_knowledge_are_refused(spark):
    kb = load_knowledge()
    row = ("p", "ok", None, "none", [], [], "{}")
    mixed = spark.createDataFrame(
        [(*row, kb.version, kb.digest), (*row, kb.version, "0" * 64)], RESULT_SCHEMA
    )
    with pytest.raises(KnowledgeMismatchError, match=r"other knowledge .* \(1 patients\)"):
        check_knowledge(mixed, kb)
    same = spark.createDataFrame([(*row, kb.version, kb.digest)], RESULT_SCHEMA)
    assert check_knowledge(same, kb) == {"version": kb.version, "digest": kb.digest}
