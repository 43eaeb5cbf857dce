"""The batch on Apache Spark, for populations beyond one machine (extra ``spark``).

Spark reads the NDJSON lines, groups them by patient and runs the same per-patient
step as the local batch (:func:`.records.evaluate_group`, i.e. ``evaluate()``) in the
executors' Python workers, which load the knowledge base once each. Results are the
same records as the local ``results.ndjson``, written as NDJSON text or Parquet, and
the same ``summary.json`` (computed with Spark aggregations).

Every result row also carries the knowledge version and digest its executor loaded;
the job refuses (:class:`KnowledgeMismatchError`) results from executors whose knowledge
differs from the driver's, and the summary records the driver's.

Submit to a cluster with the launcher ``cds_backpain/batch/spark_submit.py`` (a plain
script, which ``spark-submit`` needs; see docs/batch.md)::

    spark-submit --master spark://host:7077 \\
        --conf spark.pyspark.python=/opt/venv/bin/python \\
        "$(python -m cds_backpain.batch.spark --launcher)" s3a://bucket/export/ \\
        --out s3a://bucket/results --now 2026-06-01T12:00:00Z --format parquet

or ``python -m cds_backpain.batch.spark --master local[2] export/ --out results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .ndjson import PATIENT_TYPES
from .records import dumps, evaluate_group

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..kb.knowledge import Knowledge

#: The launcher script to give ``spark-submit`` (absolute imports only).
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark_submit.py")


class KnowledgeMismatchError(RuntimeError):
    """Executors evaluated with knowledge other than the driver's: the results are refused."""


_ID = r"([A-Za-z0-9\-.]{1,64})"
_PATIENT_REF = rf"^(?:Patient/|urn:uuid:){_ID}$"
_MEDICATION_REF = rf"^Medication/{_ID}$"


def build_session(
    master: str | None = "local[2]", app: str = "cds-backpain-batch", **conf: str
) -> SparkSession:
    """A Spark session; for ``local[...]`` a lean one (no UI, few shuffle partitions).

    With ``master=None`` the master comes from ``spark-submit``. Extra ``conf`` entries
    are passed as Spark configuration (``spark.executor.memory="4g"``).
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            # the Python workers must run this interpreter (its venv holds our dependencies)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            builder = (
                builder.config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.default.parallelism", "2")
                .config("spark.pyspark.python", sys.executable)
                .config("spark.pyspark.driver.python", sys.executable)
                .config("spark.sql.adaptive.enabled", "true")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
            )
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def patient_lines(spark: SparkSession, inputs: Sequence[str]) -> DataFrame:
    """``(patient, line)`` for every resource line that belongs to a patient.

    Reads ``*.ndjson`` / ``*.ndjson.gz`` under ``inputs`` as text (no schema inference),
    keeps the resource types an evaluation reads, and joins each referenced Medication
    to the patients whose MedicationRequest/MedicationStatement names it.
    """
    from pyspark.sql import functions as F

    raw = (
        spark.read.option("pathGlobFilter", "*.ndjson*")
        .option("recursiveFileLookup", "true")
        .text(list(inputs))
    )
    typed = raw.select(
        F.col("value").alias("line"),
        F.get_json_object("value", "$.resourceType").alias("type"),
    ).where(F.col("type").isin(*PATIENT_TYPES, "Medication"))

    def nonempty(col: Any) -> Any:
        return F.when(col != "", col)

    def referenced(key: str) -> Any:
        return nonempty(
            F.regexp_extract(F.get_json_object("line", f"$.{key}.reference"), _PATIENT_REF, 1)
        )

    own_id = nonempty(F.regexp_extract(F.get_json_object("line", "$.id"), f"^{_ID}$", 1))
    pid = F.when(F.col("type") == "Patient", own_id).otherwise(
        F.coalesce(referenced("subject"), referenced("patient"))
    )
    own = (
        typed.where(F.col("type") != "Medication")
        .select(pid.alias("patient"), "line", "type")
        .where(F.col("patient").isNotNull())
    )
    meds = typed.where(F.col("type") == "Medication").select(
        F.get_json_object("line", "$.id").alias("medication"), F.col("line").alias("med_line")
    )
    uses = (
        own.where(
            F.col("type").isin("MedicationRequest", "MedicationStatement", "MedicationDispense")
        )
        .select(
            "patient",
            F.regexp_extract(
                F.get_json_object("line", "$.medicationReference.reference"), _MEDICATION_REF, 1
            ).alias("medication"),
        )
        .where(F.col("medication") != "")
    )
    joined = (
        uses.join(meds, "medication").select("patient", F.col("med_line").alias("line")).distinct()
    )
    return own.select("patient", "line").unionByName(joined)


_cache: dict[str, Any] = {}


def _settings() -> Any:
    """The executor's settings, read from its environment once."""
    if "settings" not in _cache:
        from ..settings import Settings

        _cache["settings"] = Settings.from_env()
    return _cache["settings"]


def _knowledge() -> Any:
    if "kb" not in _cache:
        from ..kb.loader import load_knowledge

        _cache["kb"] = load_knowledge(_settings().knowledge_root)
    return _cache["kb"]


def _evaluate_partition(
    rows: Iterable[Any], now: str, engine: str | None, full: bool
) -> Iterator[tuple[Any, ...]]:
    from ..settings import applied

    kb = _knowledge()
    version, digest = kb.version, kb.digest
    for row in rows:
        with applied(_settings()):
            rec = evaluate_group(
                (row["patient"], row["lines"]), now=now, knowledge=kb, engine=engine, full=full
            )
        yield (
            rec["patient"],
            rec["status"],
            rec.get("urgency"),
            rec.get("imaging"),
            rec.get("categories") or [],
            [c["id"] for c in rec.get("conclusions", ())],
            dumps(rec),
            version,
            digest,
        )


RESULT_SCHEMA = (
    "patient string, status string, urgency string, imaging string, "
    "categories array<string>, conclusions array<string>, record string, "
    "knowledge_version string, knowledge_digest string"
)


def _instant(now: str) -> str:
    """``now`` as a UTC ISO instant ending in ``Z`` (every executor evaluates at it)."""
    from ..pipeline import parse_now

    return parse_now(now).isoformat().replace("+00:00", "Z")


def evaluate_export(
    spark: SparkSession,
    inputs: Sequence[str],
    *,
    now: str,
    engine: str | None = None,
    full: bool = False,
    partitions: int | None = None,
) -> DataFrame:
    """One row per patient: ``patient, status, urgency, imaging, categories, conclusions,
    record, knowledge_version, knowledge_digest`` (``record``: the local batch's JSON line
    for that patient; the knowledge columns: what the executor that evaluated it loaded)."""
    from pyspark.sql import functions as F

    instant = _instant(now)
    groups = (
        patient_lines(spark, inputs).groupBy("patient").agg(F.collect_list("line").alias("lines"))
    )
    if partitions:
        groups = groups.repartition(partitions, "patient")
    rdd = groups.rdd.mapPartitions(lambda rows: _evaluate_partition(rows, instant, engine, full))
    return spark.createDataFrame(rdd, RESULT_SCHEMA)


#: The columns results are tallied by: one small aggregation gives the summary and the
#: knowledge check (each distinct combination is one row on the driver).
TALLY_COLUMNS = (
    "status",
    "urgency",
    "imaging",
    "categories",
    "knowledge_version",
    "knowledge_digest",
)


def tally(results: DataFrame) -> list[Any]:
    """``results`` counted by :data:`TALLY_COLUMNS` (one Spark job)."""
    return results.groupBy(*TALLY_COLUMNS).count().collect()


def check_knowledge(
    results: DataFrame, expected: Knowledge, counts: list[Any] | None = None
) -> dict[str, str]:
    """The knowledge stamp of ``results``; KnowledgeMismatchError if any executor loaded
    other knowledge than ``expected`` (the driver's). ``counts``: a :func:`tally` of them."""
    stamps: dict[tuple[str, str], int] = {}
    for r in tally(results) if counts is None else counts:
        key = (r["knowledge_version"], r["knowledge_digest"])
        stamps[key] = stamps.get(key, 0) + r["count"]
    want = (expected.version, expected.digest)
    others = {k: n for k, n in stamps.items() if k != want}
    if others:
        listed = ", ".join(f"{v} {d[:12]}… ({n} patients)" for (v, d), n in sorted(others.items()))
        raise KnowledgeMismatchError(
            f"executors evaluated with other knowledge than the driver's {want[0]} "
            f"{want[1][:12]}…: {listed}; install the same cds-backpain on every node"
        )
    return {"version": expected.version, "digest": expected.digest}


def summarize_results(results: DataFrame, counts: list[Any] | None = None) -> dict[str, Any]:
    """The local batch's summary (failures: up to 1000), from a :func:`tally` of
    ``results`` and, when some failed, one query for the failures."""
    from collections import Counter

    from pyspark.sql import functions as F

    from ..kb.loader import load_knowledge
    from .summary import MAX_LISTED_FAILURES

    status: Counter[str] = Counter()
    urgency: Counter[str] = Counter()
    imaging: Counter[str] = Counter()
    category: Counter[str] = Counter()
    for r in tally(results) if counts is None else counts:
        status[r["status"]] += r["count"]
        if r["status"] == "ok":
            urgency[r["urgency"] or "none"] += r["count"]
            imaging[r["imaging"] or "none"] += r["count"]
            for c in r["categories"] or ():
                category[c] += r["count"]
    failures = [
        {
            "patient": r["patient"],
            "status": r["status"],
            "outcome": json.loads(r["record"]).get("outcome"),
        }
        for r in (
            results.where(F.col("status") != "ok")
            .orderBy("patient")
            .limit(MAX_LISTED_FAILURES)
            .collect()
            if sum(status.values()) > status.get("ok", 0)
            else ()
        )
    ]
    return {
        "patients": sum(status.values()),
        "ok": status.get("ok", 0),
        "failed": sum(n for s, n in status.items() if s != "ok"),
        "by_status": dict(sorted(status.items())),
        "by_urgency": {
            u: urgency.get(u, 0) for u in ("emergency", "urgent", "routine", "self_care", "none")
        },
        "by_imaging": {i: imaging.get(i, 0) for i in load_knowledge().policy.imaging_order},
        "by_category": dict(sorted(category.items(), key=lambda kv: (-kv[1], kv[0]))),
        "failures": failures,
        "failures_listed": len(failures),
    }


def write_results(results: DataFrame, out: str, fmt: str = "ndjson") -> None:
    """Write ``results`` to directory ``out``: NDJSON (the records) or Parquet (all columns)."""
    if fmt == "ndjson":
        results.select("record").write.mode("overwrite").text(out)
    elif fmt == "parquet":
        results.write.mode("overwrite").parquet(out)
    else:
        raise ValueError(f"unknown format {fmt!r} (ndjson or parquet)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``spark-submit`` / ``python -m cds_backpain.batch.spark``."""
    from datetime import UTC, datetime

    if argv is None:
        argv = sys.argv[1:]
    if list(argv) == ["--launcher"]:
        print(LAUNCHER)
        return 0
    p = argparse.ArgumentParser(prog="cds_backpain.batch.spark", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", help="NDJSON files or directories (any Hadoop path)")
    p.add_argument("--out", required=True, help="output directory for the results")
    p.add_argument("--now", default=None, help="evaluation instant (ISO 8601); default: now")
    p.add_argument(
        "--format",
        choices=("ndjson", "parquet"),
        default="ndjson",
        help="ndjson: the records as text part-*.txt files; parquet: every column",
    )
    p.add_argument("--engine", choices=("durable", "reference"), default=None)
    p.add_argument("--full", action="store_true", help="store whole evaluations")
    p.add_argument("--partitions", type=int, default=None, help="patient partitions")
    p.add_argument("--summary", default=None, help="local path for summary.json")
    p.add_argument("--master", default=None, help="Spark master (default: from spark-submit)")
    args = p.parse_args(argv)
    from ..cli_options import check_instant
    from ..kb.loader import load_knowledge

    try:
        now = check_instant(args.now or datetime.now(UTC).isoformat())
    except ValueError as exc:
        p.error(f"--now: {exc}")
    kb = load_knowledge(_settings().knowledge_root)
    spark = build_session(args.master)
    try:
        results = evaluate_export(
            spark,
            args.inputs,
            now=now,
            engine=args.engine,
            full=args.full,
            partitions=args.partitions,
        ).cache()
        counts = tally(results)
        stamp = check_knowledge(results, kb, counts)  # before anything is written
        write_results(results, args.out, args.format)
        summary = summarize_results(results, counts)
        summary.update(now=now, knowledge=stamp)
        text = json.dumps(summary, indent=2, ensure_ascii=False)
        if args.summary:
            with open(args.summary, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        print(text)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
