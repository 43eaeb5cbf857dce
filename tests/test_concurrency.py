"""Isolation under concurrency: many patients evaluated from many threads at once give
exactly what each gives alone, and memory stays flat over a long concurrent run."""

from __future__ import annotations

import concurrent.futures
import functools
import gc
import json
import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_backpain import evaluate
from cds_backpain.examples import load_examples
from cds_backpain.testing import EXAMPLE_NOW, examples, patient_bundles, red_flag_bundles
from cds_backpain.testing.builders import with_patient_id
from cds_backpain.testing.invariants import check_single_patient

THREADS = 8


def example_bundles() -> list[dict]:
    return [json.loads(ex.path.read_text(encoding="utf-8")) for ex in load_examples()]


def concurrent_matches_sequential(bundles: list[dict], engine: str | None, rounds: int) -> None:
    run = functools.partial(evaluate, now=EXAMPLE_NOW, engine=engine)
    alone = [run(b).to_json() for b in bundles]
    jobs = [i for _ in range(rounds) for i in range(len(bundles))]
    random.Random(len(jobs)).shuffle(jobs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda i: (i, run(bundles[i])), jobs))
    for i, ev in results:
        pid = next(
            e["resource"]["id"]
            for e in bundles[i]["entry"]
            if e["resource"]["resourceType"] == "Patient"
        )
        assert ev.patient == f"Patient/{pid}", (ev.patient, pid)
        check_single_patient(ev, bundles[i])
        got = ev.to_json()
        assert got == alone[i], f"patient {pid}: concurrent result differs from sequential"


@pytest.mark.parametrize("engine", ["durable", "reference"])
def test_examples_from_many_threads_equal_their_sequential_twins(engine):
    concurrent_matches_sequential(example_bundles(), engine, rounds=3)


@settings(
    max_examples=examples(4),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.one_of(red_flag_bundles(max_noise=2), patient_bundles(max_resources=5)),
        min_size=12,
        max_size=24,
    )
)
def test_generated_patients_from_many_threads_equal_their_sequential_twins(bundles):
    distinct = [with_patient_id(b, f"p{i}") for i, b in enumerate(bundles)]
    concurrent_matches_sequential(distinct, None, rounds=2)


def _rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_concurrent_run():
    """Benchmark (CDS_BACKPAIN_SLOW=1): RSS growth after warm-up over many evaluations."""
    bundles = [with_patient_id(b, f"m{i}") for i, b in enumerate(example_bundles())]
    run = functools.partial(evaluate, now=EXAMPLE_NOW)
    total = int(os.environ.get("CDS_BACKPAIN_MEMORY_EVALS", "20000"))

    def batch(n: int) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(lambda i: run(bundles[i % len(bundles)]), range(n)):
                pass

    batch(2000)
    gc.collect()
    start, t0 = _rss_kib(), time.perf_counter()
    samples = []
    for _ in range(10):
        batch(total // 10)
        gc.collect()
        samples.append(_rss_kib())
    growth = samples[-1] - start
    print(
        f"\nmemory: {total} evaluations on 4 threads in {time.perf_counter() - t0:.0f}s; "
        f"RSS {start / 1024:.1f} MiB -> {samples[-1] / 1024:.1f} MiB "
        f"(growth {growth / 1024:.2f} MiB; samples {[round(s / 1024, 1) for s in samples]})"
    )
    assert growth < 20 * 1024, f"RSS grew {growth / 1024:.1f} MiB"
