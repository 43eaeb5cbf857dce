"""Benchmarks of what EHR integrators run: single evaluations, the service, batches, memory.

    .venv/bin/python bench/run.py                  # evaluate + floor, service, batch (~2 min)
    .venv/bin/python bench/run.py eval             # evaluate() vs the fhir.resources floor
    .venv/bin/python bench/run.py service          # the real server on loopback, 1/8/32 clients
    .venv/bin/python bench/run.py batch --patients 100000
    .venv/bin/python bench/run.py memory --evals 1000000   # long: run with nohup
    .venv/bin/python bench/run.py profile          # where evaluate() spends its time

Every command prints a table and, with ``--json PATH``, writes its figures as JSON
(bench/out/ is the conventional place). Not part of the test run.

Targets (docs/batch.md): evaluate() <= 1.5 x the validation floor (20 resources);
service >= 70% of the in-process rate per worker; batch >= 80% of it per worker;
memory grows < 5 MB over 1,000,000 evaluations.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

NOW = "2026-06-01T12:00:00Z"
SIZES = (20, 200)
OUT = Path(__file__).resolve().parent / "out"
# Measure the checkout this file is in, whatever copy of cds_backpain the interpreter has.
sys.path.insert(0, str(OUT.parent.parent))


# ----------------------------------------------------------------- helpers


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def timed(fn: Callable[[], Any], seconds: float, warmup: int = 20) -> dict[str, float]:
    """Call ``fn`` repeatedly for about ``seconds``: rate and latency percentiles (ms)."""
    for _ in range(warmup):
        fn()
    lat: list[float] = []
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    while True:
        t = clock()
        fn()
        end = clock()
        lat.append(end - t)
        if end >= deadline:
            break
    total = clock() - start
    return {
        "n": len(lat),
        "per_s": len(lat) / total,
        "p50_ms": pct(lat, 50) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "mean_ms": statistics.fmean(lat) * 1e3,
    }


def table(rows: list[list[Any]], head: list[str]) -> str:
    cells = [[str(c) for c in head]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"
    return str(v)


def patient(size: int, profile: str = "mechanical", seed: int = 7) -> list[dict[str, Any]]:
    from cds_backpain.batch.synth import synthetic_patient

    return synthetic_patient(size, profile=profile, seed=seed, now=NOW)


# ----------------------------------------------------------------- evaluate vs floor


def validation_floor(body: bytes) -> Callable[[], None]:
    """What fhir.resources alone costs: parse the JSON and validate each resource with its
    R4B model. Fresh objects every call, as on the wire (pydantic is ~2x faster on
    objects it has validated before, which would flatter the floor)."""
    from fhir.resources.R4B import get_fhir_model_class

    classes = {r["resourceType"]: get_fhir_model_class(r["resourceType"]) for r in json.loads(body)}

    def run() -> None:
        for r in json.loads(body):
            classes[r["resourceType"]].model_validate(r)

    return run


def interleaved(fns: dict[str, Callable[[], Any]], seconds: float, rounds: int = 6):
    """``timed`` for each function, in alternating rounds so they share the machine's load."""
    lat: dict[str, list[float]] = {k: [] for k in fns}
    spent = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        for _ in range(10):
            fn()
    clock = time.perf_counter
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            deadline = start + seconds / rounds
            while True:
                t = clock()
                fn()
                end = clock()
                lat[name].append(end - t)
                if end >= deadline:
                    break
            spent[name] += clock() - start
    return {
        name: {
            "n": len(v),
            "per_s": len(v) / spent[name],
            "p50_ms": pct(v, 50) * 1e3,
            "p99_ms": pct(v, 99) * 1e3,
            "mean_ms": statistics.fmean(v) * 1e3,
        }
        for name, v in lat.items()
    }


def bench_eval(seconds: float, engine: str | None) -> dict[str, Any]:
    """evaluate() on JSON bytes (as the service and the batch receive them) vs the floor."""
    from cds_backpain import evaluate, load_knowledge

    kb = load_knowledge()
    out: dict[str, Any] = {}
    for size in SIZES:
        body = json.dumps(patient(size)).encode()
        ev = evaluate(body, now=NOW, knowledge=kb, engine=engine)

        def rendered(b: bytes = body) -> None:
            done = evaluate(b, now=NOW, knowledge=kb, engine=engine)
            done.cards  # noqa: B018 - rendered on first access
            done.bundle  # noqa: B018

        got = interleaved(
            {
                "evaluate": lambda b=body: evaluate(b, now=NOW, knowledge=kb, engine=engine),
                "floor": validation_floor(body),
                "rendered": rendered,
            },
            3 * seconds,
        )
        e, f, r = got["evaluate"], got["floor"], got["rendered"]
        out[str(size)] = {
            "resources": size,
            "urgency": ev.urgency,
            "conclusions": [c.id for c in ev.conclusions],
            "evaluate": e,
            "floor": f,
            "rendered": r,
            "ratio_mean": e["mean_ms"] / f["mean_ms"],
            "ratio_p50": e["p50_ms"] / f["p50_ms"],
            "rendered_ratio_p50": r["p50_ms"] / f["p50_ms"],
        }
    return out


def print_eval(res: dict[str, Any]) -> None:
    rows = []
    for size, r in res.items():
        e, f = r["evaluate"], r["floor"]
        rows.append([f"{size} resources", "evaluate()", e["per_s"], e["p50_ms"], e["p99_ms"], ""])
        rows.append(["", "validation floor", f["per_s"], f["p50_ms"], f["p99_ms"], ""])
        rows.append(["", "ratio", "", f"{r['ratio_p50']:.2f}x", "", f"{r['ratio_mean']:.2f}x"])
        if "rendered" in r:
            d = r["rendered"]
            rows.append(
                ["", "+ cards + bundle", d["per_s"], d["p50_ms"], d["p99_ms"], ""],
            )
            rows.append(["", "ratio", "", f"{r['rendered_ratio_p50']:.2f}x", "", ""])
    print(table(rows, ["patient", "what", "evals/s", "p50 ms", "p99 ms", "eval/floor (mean)"]))


def bench_stages(size: int, n: int, engine: str | None) -> dict[str, float]:
    """Mean milliseconds per evaluate() stage (ingest, engine, resolve, cards, bundle, rest)."""
    import cds_backpain.pipeline as pipeline
    from cds_backpain import evaluate, load_knowledge
    from cds_backpain.engine.select import get_engine

    kb = load_knowledge()
    resources = json.dumps(patient(size)).encode()
    spent: dict[str, float] = {}
    clock = time.perf_counter

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_fn(*args: Any, **kw: Any) -> Any:
            t = clock()
            try:
                return fn(*args, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + clock() - t

        return timed_fn

    class TimedEngine:
        def __init__(self, inner: Any):
            self.inner, self.name = inner, inner.name

        def run(self, rules: Any, facts: Any) -> Any:
            return wrap("engine", self.inner.run)(rules, facts)

    names = ["ingest", "engine_input", "resolve", "derivations", "build_cards", "build_bundle"]
    saved = {k: getattr(pipeline, k) for k in names}
    eng = TimedEngine(get_engine(engine))
    try:
        for k in names:
            setattr(pipeline, k, wrap(k, saved[k]))
        for _ in range(20):
            evaluate(resources, now=NOW, knowledge=kb, engine=eng)
        spent.clear()
        t = clock()
        for _ in range(n):
            evaluate(resources, now=NOW, knowledge=kb, engine=eng)
        total = clock() - t
    finally:
        for k, v in saved.items():
            setattr(pipeline, k, v)
    out = {k: v / n * 1e3 for k, v in spent.items()}
    out["rest"] = total / n * 1e3 - sum(out.values())
    out["total"] = total / n * 1e3
    floor = validation_floor(resources)
    t = clock()
    for _ in range(n):
        floor()
    out["floor"] = (clock() - t) / n * 1e3
    return out


def print_stages(size: int, res: dict[str, float]) -> None:
    rows = [
        [k, v, f"{v / res['total']:.0%}"] for k, v in res.items() if k not in ("total", "floor")
    ]
    rows.append(["total", res["total"], "100%"])
    rows.append(["(validation floor)", res["floor"], f"{res['floor'] / res['total']:.0%}"])
    print(f"evaluate() stages, {size}-resource patient, mean ms per call:")
    print(table(rows, ["stage", "ms", "share"]))


# ----------------------------------------------------------------- service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hook_request(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A patient-view request whose prefetch holds ``resources``."""
    from cds_backpain.service.prefetch import PREFETCH_TEMPLATES

    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {}
    for key, template in PREFETCH_TEMPLATES.items():
        rtype = template.split("?", 1)[0].split("/", 1)[0]
        if "?" not in template:
            prefetch[key] = next((r for r in resources if r["resourceType"] == rtype), None)
        else:
            entries = [{"resource": r} for r in resources if r["resourceType"] == rtype]
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(entries),
                "entry": entries,
            }
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": pid},
        "prefetch": prefetch,
    }


class Server:
    """``cds-backpain serve --insecure-dev`` in a subprocess on a free loopback port."""

    def __init__(self, workers: int = 1):
        self.port = _free_port()
        self.tmp = tempfile.mkdtemp(prefix="cds-bench-")
        cmd = [
            sys.executable,
            "-m",
            "cds_backpain.cli",
            "serve",
            "--insecure-dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--now",
            NOW,
            "--log-level",
            "warning",
            "--database",
            f"sqlite:///{self.tmp}/feedback.db",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited ({self.proc.returncode}): {err[-2000:]}")
            try:
                if httpx.get(self.url + "/cds-services", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def _drive(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        # warm-up: every connection once
        await asyncio.gather(
            *(client.post(url, content=body, headers=headers) for _ in range(clients))
        )
        start = time.perf_counter()
        deadline = start + seconds

        async def one() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(one() for _ in range(clients)))
        total = time.perf_counter() - start
    return {
        "clients": clients,
        "n": len(lat),
        "errors": errors,
        "per_s": len(lat) / total,
        "p50_ms": pct(lat, 50) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
    }


async def _raw_post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One HTTP/1.1 keep-alive exchange on an open connection; returns the status code."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _drive_raw(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """Like _drive, with a minimal client (one pre-encoded request per keep-alive connection)
    so that the load generator takes little CPU from the server on a small machine."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    request = (
        f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conns = [await asyncio.open_connection(u.hostname, u.port) for _ in range(clients)]
    for r, w in conns:  # warm-up: every connection once
        await _raw_post(r, w, request)
    lat: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            status = await _raw_post(reader, writer, request)
            lat.append(time.perf_counter() - t)
            errors += status != 200

    await asyncio.gather(*(one(r, w) for r, w in conns))
    total = time.perf_counter() - start
    for _, w in conns:
        w.close()
    return {
        "clients": clients,
        "n": len(lat),
        "errors": errors,
        "per_s": len(lat) / total,
        "p50_ms": pct(lat, 50) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
    }


def in_process_rates(body: bytes, seconds: float) -> dict[str, float]:
    """evaluate() per second on the 20-resource patient, alone and with its cards
    rendered (what the service computes), measured now."""
    from cds_backpain import evaluate, load_knowledge

    kb = load_knowledge()
    return {
        "evaluate": timed(lambda: evaluate(body, now=NOW, knowledge=kb), seconds)["per_s"],
        "evaluate_cards": timed(lambda: evaluate(body, now=NOW, knowledge=kb).cards, seconds)[
            "per_s"
        ],
    }


def bench_service(
    seconds: float, workers: int, clients: tuple[int, ...], client: str = "raw"
) -> dict[str, Any]:
    """Each load level is bracketed by in-process measurements (before and after, same
    machine state), since a shared VM drifts by tens of percent within minutes."""
    import resource

    import httpx

    resources = patient(20)
    body = json.dumps(hook_request(resources)).encode()
    plain = json.dumps(resources).encode()
    server = Server(workers)
    levels = []
    try:
        server.wait()
        url = server.url + "/cds-services/lbp-patient-view"
        first = httpx.post(
            url, content=body, headers={"content-type": "application/json"}, timeout=60
        )
        if first.status_code != 200:
            raise RuntimeError(f"hook call failed: {first.status_code} {first.text[:500]}")
        cards = len(first.json().get("cards", []))
        drive = _drive_raw if client == "raw" else _drive
        for n in clients:
            before = in_process_rates(plain, seconds / 2)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            level = asyncio.run(drive(url, body, n, seconds))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            after = in_process_rates(plain, seconds / 2)
            used = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            level["client_cpu"] = used / seconds
            level["in_process"] = {k: (before[k] + after[k]) / 2 for k in before}
            levels.append(level)
    finally:
        server.close()
    return {
        "workers": workers,
        "client": client,
        "resources": len(resources),
        "cards": cards,
        "levels": levels,
    }


def print_service(res: dict[str, Any]) -> None:
    rows = []
    for lv in res["levels"]:
        per_worker = lv["per_s"] / res["workers"]
        ref = lv.get("in_process") or {}
        e, ec = ref.get("evaluate"), ref.get("evaluate_cards")
        rows.append(
            [
                lv["clients"],
                lv["per_s"],
                lv["p50_ms"],
                lv["p99_ms"],
                lv["errors"],
                f"{per_worker / e:.0%}" if e else "-",
                f"{per_worker / ec:.0%}" if ec else "-",
                f"{lv['client_cpu']:.0%}" if "client_cpu" in lv else "-",
            ]
        )
    print(
        f"service: {res['workers']} worker(s), patient-view with {res['resources']} resources "
        f"in prefetch, {res['cards']} card(s), {res['client']} client; per worker as a share "
        "of the in-process rate measured just before and after each level"
    )
    print(
        table(
            rows,
            [
                "clients",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "/ evaluate()",
                "/ evaluate()+cards",
                "client CPU",
            ],
        )
    )


# ----------------------------------------------------------------- batch


def bench_batch(
    patients: int, workers: list[int], sample: int, keep: Path | None
) -> dict[str, Any]:
    from cds_backpain import load_knowledge
    from cds_backpain.batch.ndjson import partition
    from cds_backpain.batch.records import evaluate_group
    from cds_backpain.batch.runner import run_batch
    from cds_backpain.batch.synth import write_population

    tmp = Path(tempfile.mkdtemp(prefix="cds-bench-batch-"))
    export = keep or tmp / "export"
    try:
        t = time.perf_counter()
        if not (export / "Patient.000.ndjson").exists():
            write_population(export, patients, seed=1, now=NOW)
        gen_s = time.perf_counter() - t
        # in-process rate over the same population (first `sample` patients)
        kb = load_knowledge()
        groups = []
        with partition([export]) as parts:
            for g in parts:
                groups.append(g)
                if len(groups) >= sample:
                    break
        for g in groups[:50]:
            evaluate_group(g, now=NOW, knowledge=kb)

        def in_process_rate() -> float:
            t = time.perf_counter()
            for g in groups:
                evaluate_group(g, now=NOW, knowledge=kb)
            return len(groups) / (time.perf_counter() - t)

        rates = []
        runs = []
        for w in workers:
            # bracketed: the in-process rate just before and after each run (a shared VM
            # drifts by tens of percent within minutes)
            before = in_process_rate()
            out = tmp / f"out-{w}"
            rep = run_batch([export], out, now=NOW, workers=w, progress=False)
            ref = (before + in_process_rate()) / 2
            rates.append(ref)
            runs.append(
                {
                    "workers": w,
                    "patients": rep.evaluated,
                    "seconds": rep.seconds,
                    "per_s": rep.rate,
                    "per_worker_s": rep.rate / max(1, w),
                    "in_process_per_s": ref,
                    "share_of_in_process": rep.rate / max(1, w) / ref,
                    "failed": rep.summary["failed"],
                    "by_urgency": rep.summary["by_urgency"],
                }
            )
            shutil.rmtree(out, ignore_errors=True)
        in_proc = sum(rates) / len(rates)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "patients": patients,
        "generate_s": gen_s,
        "in_process_per_s": in_proc,
        "sample": len(groups),
        "runs": runs,
    }


def print_batch(res: dict[str, Any]) -> None:
    print(
        f"batch: {res['patients']:,} synthetic patients (generated in {res['generate_s']:.1f} s);"
        f" in-process rate on {res['sample']:,} of them, measured before and after each run"
    )
    rows = [
        [
            r["workers"],
            r["patients"],
            r["seconds"],
            r["per_s"],
            r["per_worker_s"],
            r.get("in_process_per_s", res["in_process_per_s"]),
            f"{r['share_of_in_process']:.0%}",
            r["failed"],
        ]
        for r in res["runs"]
    ]
    print(
        table(
            rows,
            [
                "workers",
                "patients",
                "seconds",
                "patients/s",
                "per worker",
                "in-process/s",
                "per worker/in-proc",
                "failed",
            ],
        )
    )
    if res["runs"]:
        print("by urgency:", res["runs"][-1]["by_urgency"])


# ----------------------------------------------------------------- memory


def bench_memory(evals: int, every: int, engine: str | None, log: Path | None) -> dict[str, Any]:
    from cds_backpain import evaluate, load_knowledge

    kb = load_knowledge()
    profiles = ["mechanical", "radicular", "cauda_equina", "malignancy", "irrelevant"]
    patients = [json.dumps(patient(20, p, seed=i)).encode() for i, p in enumerate(profiles)]
    warm = min(10_000, max(1, evals // 10))
    for i in range(warm):
        evaluate(patients[i % len(patients)], now=NOW, knowledge=kb, engine=engine)
    gc.collect()
    base = rss_mb()
    points = [{"evals": 0, "rss_mb": base}]
    t0 = time.perf_counter()
    fh = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115
    try:
        for i in range(1, evals + 1):
            ev = evaluate(patients[i % len(patients)], now=NOW, knowledge=kb, engine=engine)
            ev.cards, ev.bundle  # noqa: B018 - render the outputs too, as the service does
            if i % every == 0 or i == evals:
                gc.collect()
                pt = {"evals": i, "rss_mb": rss_mb(), "seconds": time.perf_counter() - t0}
                points.append(pt)
                if fh:
                    fh.write(json.dumps(pt) + "\n")
                    fh.flush()
    finally:
        if fh:
            fh.close()
    return {
        "evals": evals,
        "warmup": warm,
        "baseline_rss_mb": base,
        "final_rss_mb": points[-1]["rss_mb"],
        "growth_mb": points[-1]["rss_mb"] - base,
        "seconds": time.perf_counter() - t0,
        "points": points,
    }


def print_memory(res: dict[str, Any]) -> None:
    rows = [[p["evals"], p["rss_mb"]] for p in res["points"]]
    print(table(rows, ["evaluations", "RSS MB"]))
    print(
        f"growth over {res['evals']:,} evaluations (after {res['warmup']:,} warm-up): "
        f"{res['growth_mb']:+.1f} MB in {res['seconds']:.0f} s"
    )


# ----------------------------------------------------------------- scaling

SCALING_SIZES = (20, 200, 2_000, 20_000)


def bench_scaling(
    sizes: tuple[int, ...], engines: tuple[str, ...], rounds: int, baseline_max: int
) -> dict[str, Any]:
    """evaluate() on records of growing length, relevant and padded, engines interleaved.

    Every round evaluates every case once (small cases several times, their mean), so all
    sizes share the machine's load of that moment; a case's figure is the median over the
    rounds. ``baseline`` cases (relevant records up to ``baseline_max`` resources) run the
    same pipeline with every fact given to the engine, as before fact classes.
    """
    import tracemalloc

    import cds_backpain.pipeline as pipeline
    from cds_backpain import evaluate, load_knowledge
    from cds_backpain.engine.fact_classes import reduce_facts
    from cds_backpain.engine.prepare import engine_input
    from cds_backpain.ingest import Limits, ingest

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from long_records import irrelevant_record, relevant_record

    kb = load_knowledge()
    # The library's default Limits refuse more than 5,000 entries; measure beyond them.
    limits = Limits(max_bytes=1 << 30, max_entries=10**6)
    bodies = {
        (shape, size): json.dumps(make(size)).encode()
        for shape, make in (("relevant", relevant_record), ("irrelevant", irrelevant_record))
        for size in sizes
    }
    facts: dict[tuple[str, int], tuple[int, int]] = {}
    for key, body in bodies.items():
        got = ingest(
            body,
            valuesets=kb.valuesets,
            parameters=kb.parameters,
            now=pipeline.parse_now(NOW),
            limits=limits,
        )
        views = engine_input(kb.compiled, got.facts)
        facts[key] = (len(views), len(reduce_facts(kb.compiled, views).facts))

    reduced = pipeline.run_on_classes

    def unreduced(engine: Any, rules: Any, views: Any) -> Any:
        return engine.run(rules, views)

    cases = [(shape, size, eng, "classes") for (shape, size) in bodies for eng in engines]
    cases += [
        ("relevant", size, eng, "baseline")
        for size in sizes
        if size <= baseline_max
        for eng in engines
    ]
    samples: dict[tuple[str, int, str, str], list[float]] = {c: [] for c in cases}

    def once(case: tuple[str, int, str, str]) -> float:
        shape, size, eng, how = case
        pipeline.run_on_classes = reduced if how == "classes" else unreduced  # type: ignore[assignment]
        try:
            reps = max(1, 2_000 // size)  # >= 2,000 resources per sample
            t = time.perf_counter()
            for _ in range(reps):
                evaluate(bodies[shape, size], now=NOW, knowledge=kb, engine=eng, limits=limits)
            return (time.perf_counter() - t) / reps
        finally:
            pipeline.run_on_classes = reduced  # type: ignore[assignment]

    for case in cases:  # warm-up: compile, caches, first allocations
        if case[1] <= 200:
            once(case)
    for r in range(rounds):
        for case in cases:
            samples[case].append(once(case))
        print(f"  scaling: round {r + 1}/{rounds} done", file=sys.stderr)

    peaks: dict[tuple[str, int], float] = {}
    for shape, size in bodies:  # Python heap peak of one evaluation (default engine)
        gc.collect()
        tracemalloc.start()
        evaluate(bodies[shape, size], now=NOW, knowledge=kb, engine=engines[0], limits=limits)
        peaks[shape, size] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    out: dict[str, Any] = {"rounds": rounds, "cases": []}
    for case, times in samples.items():
        shape, size, eng, how = case
        out["cases"].append(
            {
                "shape": shape,
                "resources": size,
                "engine": eng,
                "pipeline": how,
                "facts": facts[shape, size][0],
                "engine_facts": facts[shape, size][1]
                if how == "classes"
                else facts[shape, size][0],
                "ms": statistics.median(times) * 1e3,
                "ms_all": [t * 1e3 for t in times],
                "us_per_resource": statistics.median(times) / size * 1e6,
                "best_us_per_resource": min(times) / size * 1e6,
                "peak_mb": peaks[shape, size] if how == "classes" else None,
            }
        )
    return out


def print_scaling(res: dict[str, Any]) -> None:
    by = {(c["shape"], c["resources"], c["engine"], c["pipeline"]): c for c in res["cases"]}
    rows = []
    for c in res["cases"]:
        base = by.get((c["shape"], 200, c["engine"], c["pipeline"]))
        ratio = f"{c['us_per_resource'] / base['us_per_resource']:.2f}x" if base else ""
        best = f"{c['best_us_per_resource'] / base['best_us_per_resource']:.2f}x" if base else ""
        total = f"{c['ms'] / base['ms']:.1f}x" if base else ""
        rows.append(
            [
                c["shape"] + (" (all facts)" if c["pipeline"] == "baseline" else ""),
                f"{c['resources']:,}",
                c["engine"],
                f"{c['facts']:,} -> {c['engine_facts']:,}",
                c["ms"],
                c["us_per_resource"],
                ratio,
                best,
                total,
                "" if c["peak_mb"] is None else f"{c['peak_mb']:.1f}",
            ]
        )
    print(f"scaling: median of {res['rounds']} interleaved rounds; (best): fastest round's ratio")
    print(
        table(
            rows,
            [
                "record",
                "resources",
                "engine",
                "facts -> engine",
                "ms/eval",
                "us/resource",
                "per-res vs 200",
                "(best)",
                "eval vs 200",
                "peak MB",
            ],
        )
    )


# ----------------------------------------------------------------- profile


def profile_eval(size: int, n: int, engine: str | None, top: int) -> None:
    import cProfile
    import pstats

    from cds_backpain import evaluate, load_knowledge

    kb = load_knowledge()
    resources = json.dumps(patient(size)).encode()
    for _ in range(20):
        evaluate(resources, now=NOW, knowledge=kb, engine=engine)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        evaluate(resources, now=NOW, knowledge=kb, engine=engine)
    prof.disable()
    stats = pstats.Stats(prof).strip_dirs()
    print(f"--- {n} evaluations of a {size}-resource patient, by cumulative time")
    stats.sort_stats("cumulative").print_stats(top)
    print("--- by own time")
    stats.sort_stats("tottime").print_stats(top)


# ----------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "eval", "stages", "service", "batch", "memory", "profile", "scaling"],
    )
    p.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    p.add_argument("--engine", choices=["durable", "reference"], default=None)
    p.add_argument("--service-workers", type=int, default=1)
    p.add_argument("--clients", default="1,8,32")
    p.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: minimal asyncio HTTP/1.1 (default) or httpx.AsyncClient",
    )
    p.add_argument("--patients", type=int, default=20_000, help="batch population size")
    p.add_argument(
        "--batch-workers",
        default=None,
        help="comma-separated worker counts (default: 1 and the CPU count)",
    )
    p.add_argument("--sample", type=int, default=2_000, help="patients for the in-process rate")
    p.add_argument("--export", type=Path, default=None, help="reuse/keep the synthetic export here")
    p.add_argument("--evals", type=int, default=1_000_000, help="memory: evaluations")
    p.add_argument("--every", type=int, default=100_000, help="memory: checkpoint interval")
    p.add_argument("--size", type=int, default=20, help="profile: resources")
    p.add_argument("--n", type=int, default=2_000, help="profile: evaluations")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3, help="scaling: interleaved rounds")
    p.add_argument(
        "--sizes",
        default=",".join(map(str, SCALING_SIZES)),
        help="scaling: record lengths (resources)",
    )
    p.add_argument(
        "--baseline-max",
        type=int,
        default=2_000,
        help="scaling: also run relevant records up to this size with every fact in the engine",
    )
    p.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    a = p.parse_args(argv)

    result: dict[str, Any] = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}")
    if a.what == "profile":
        profile_eval(a.size, a.n, a.engine, a.top)
        return 0
    if a.what in ("all", "stages"):
        for size in SIZES:
            res = bench_stages(size, max(20, a.n // (size // 20)), a.engine)
            result.setdefault("stages", {})[str(size)] = res
            print_stages(size, res)
            print()
    if a.what in ("all", "eval"):
        res = bench_eval(a.seconds, a.engine)
        result["eval"] = res
        print_eval(res)
        print()
    if a.what in ("all", "service"):
        try:
            clients = tuple(int(c) for c in a.clients.split(","))
            res = bench_service(a.seconds, a.service_workers, clients, a.client)
            result["service"] = res
            print_service(res)
        except Exception as exc:  # report, keep the other figures
            result["service"] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"service: not measured: {type(exc).__name__}: {exc}")
        print()
    if a.what in ("all", "batch"):
        cpus = os.cpu_count() or 1
        workers = (
            [int(w) for w in a.batch_workers.split(",")] if a.batch_workers else sorted({1, cpus})
        )
        res = bench_batch(a.patients, workers, a.sample, a.export)
        result["batch"] = res
        print_batch(res)
        print()
    if a.what in ("all", "scaling"):
        engines = (a.engine,) if a.engine else ("durable", "reference")
        sizes = tuple(int(x) for x in a.sizes.split(","))
        res = bench_scaling(sizes, engines, a.rounds, a.baseline_max)
        result["scaling"] = res
        print_scaling(res)
        print()
    if a.what == "memory":
        res = bench_memory(
            a.evals, a.every, a.engine, (a.json.with_suffix(".log") if a.json else None)
        )
        result["memory"] = res
        print_memory(res)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
