"""Evaluate every patient of a Bulk Data export in parallel worker processes.

``run_batch(paths, out)`` partitions the export by patient (:mod:`.ndjson`), sends
chunks of patients to a pool of worker processes (knowledge loaded once, before the
fork where the platform forks), and appends one record per patient to
``out/results.ndjson`` as results arrive. It then writes ``out/summary.json``.

* A failing patient never stops the run: invalid input and evaluation errors become
  records with an OperationOutcome; a worker that dies (e.g. a crash in native code)
  is replaced and the patients it held are retried one by one, so only the patient
  that kills a worker is recorded as an error.
* Re-running with the same ``out`` skips patients already recorded (``retry_failed``
  re-evaluates failed ones). ``out/run.json`` pins the evaluation instant and the
  knowledge digest: a re-run cannot silently mix results of two configurations.
* Memory is bounded: the export is never loaded whole and only a few chunks per
  worker are in flight at any time.
* Workers die with the batch: each watches its parent and exits within a second of
  the batch being killed, so no orphan keeps the output locked. The lock file records
  the pid of the batch holding it; a lock left by a dead run is detected and taken
  over once its last process is gone.
* Input that could not be read is never silent: broken lines and truncated files are
  reported by name (console and ``summary.json``), and the records of the patients who
  may miss data carry ``"incomplete": [reasons]``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .._errors import CdsBackpainError
from .ndjson import DEFAULT_SHARD_BYTES, InputFileError, PatientGroup, ReadStats, partition
from .records import dumps, evaluate_group, failed_record, outcome
from .summary import format_incomplete, format_summary, read_records, summarize_file

RESULTS = "results.ndjson"
SUMMARY = "summary.json"
RUN = "run.json"
LOCK = ".lock"
#: How often a worker checks that the batch that started it is still alive (seconds).
PARENT_POLL_SECONDS = 0.5
#: How long a new run waits for the leftover processes of a dead run to release the lock.
STALE_LOCK_WAIT_SECONDS = 5.0

#: Patients per task sent to a worker, and most resource lines per task.
CHUNK_PATIENTS = 32
CHUNK_LINES = 4000
#: Tasks in flight per worker (bounds memory; keeps workers busy).
INFLIGHT_PER_WORKER = 3
#: Workers dying on this many single patients in a row stop the run (a broken setup,
#: not poisonous patients): nothing would be evaluated anyway.
MAX_DEATHS_IN_A_ROW = 5


class BatchError(CdsBackpainError):
    """The batch cannot start (e.g. the output directory holds another run's results)."""


@dataclass
class BatchReport:
    """What a run did: counts, timing, where the outputs are, the summary."""

    out: Path
    now: str
    workers: int
    evaluated: int
    skipped: int
    seconds: float
    read: ReadStats
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Patients evaluated per second in this run (reading the export included)."""
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Whether every line of the input was read (no broken line, no truncated file)."""
        return self.read.complete

    def text(self) -> str:
        head = (
            f"{self.evaluated} patients evaluated in {self.seconds:.1f} s "
            f"({self.rate:.0f}/s, {self.workers or 'no'} workers)"
            + (f", {self.skipped} already done" if self.skipped else "")
        )
        warning = format_incomplete(self.summary.get("read", {}))
        return (
            head
            + "\n"
            + format_summary(self.summary)
            + (f"\n{warning}" if warning else "")
            + f"\nresults in {self.out}"
        )


# ---------------------------------------------------------------- worker side

_worker: dict[str, Any] = {}


def _init_worker(
    now: str,
    engine: str | None,
    full: bool,
    knowledge_root: str | None,
    batch_pid: int | None = None,
    lock_fd: int | None = None,
) -> None:
    from ..kb.loader import load_knowledge
    from ..settings import Settings

    settings = Settings.from_env()  # read once, when the worker starts
    if batch_pid is not None and os.getpid() != batch_pid:  # a worker process
        if lock_fd is not None:  # a forked copy of the batch's lock: never hold it
            with suppress(OSError):
                os.close(lock_fd)
        _watch_parent(batch_pid)
    root = knowledge_root if knowledge_root is not None else settings.knowledge_root
    _worker.update(
        now=now, engine=engine, full=full, knowledge=load_knowledge(root), settings=settings
    )


def _watch_parent(batch_pid: int) -> None:
    """Exit this worker as soon as the batch that started it is gone (killed, crashed)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent or not _alive(batch_pid):
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _work(chunk: Sequence[tuple[str, tuple[bytes, ...]]]) -> list[tuple[str, str, str]]:
    from ..settings import applied

    with applied(_worker["settings"]):
        return _work_in(chunk)


def _work_in(chunk: Sequence[tuple[str, tuple[bytes, ...]]]) -> list[tuple[str, str, str]]:
    out = []
    for pid, lines in chunk:
        rec = evaluate_group(
            PatientGroup(pid, lines),
            now=_worker["now"],
            knowledge=_worker["knowledge"],
            engine=_worker["engine"],
            full=_worker["full"],
        )
        out.append((pid, rec["status"], dumps(rec)))
    return out


# ---------------------------------------------------------------- main side


def _chunks(groups: Iterable[PatientGroup]) -> Iterator[list[tuple[str, tuple[bytes, ...]]]]:
    chunk: list[tuple[str, tuple[bytes, ...]]] = []
    lines = 0
    for g in groups:
        chunk.append((g.patient, g.lines))
        lines += len(g.lines)
        if len(chunk) >= CHUNK_PATIENTS or lines >= CHUNK_LINES:
            yield chunk
            chunk, lines = [], 0
    if chunk:
        yield chunk


def start_method() -> str:
    """How worker processes start: ``fork`` where it is safe (POSIX, Python < 3.12), so
    they inherit the loaded knowledge; otherwise ``forkserver`` or ``spawn``, and each
    worker loads the knowledge once in its initializer."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and sys.version_info < (3, 12):
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _context() -> Any:
    return mp.get_context(start_method())


class _Pool:
    """A process pool with a bounded number of tasks in flight and crash isolation."""

    def __init__(self, workers: int, initargs: tuple[Any, ...]):
        self.workers = workers
        self.initargs = initargs
        self.executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=_context(), initializer=_init_worker, initargs=self.initargs
        )

    def _renew(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._new()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        chunks: Iterator[list[tuple[str, tuple[bytes, ...]]]],
        emit: Callable[[list[tuple[str, str, str]]], None],
    ) -> None:
        limit = self.workers * INFLIGHT_PER_WORKER
        pending: dict[Future[list[tuple[str, str, str]]], list[Any]] = {}
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                pending[self.executor.submit(_work, chunk)] = chunk
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken: list[Any] = []
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    emit(fut.result())
                except BrokenProcessPool:
                    broken.append(chunk)
            if broken:
                # Every task in flight died with the pool: retry their patients one by one.
                broken.extend(pending.values())
                pending.clear()
                self._renew()
                self._isolate([g for chunk in broken for g in chunk], emit)

    def _isolate(
        self,
        groups: list[tuple[str, tuple[bytes, ...]]],
        emit: Callable[[list[tuple[str, str, str]]], None],
    ) -> None:
        deaths_in_a_row = 0
        for pid, lines in groups:
            try:
                emit(self.executor.submit(_work, [(pid, lines)]).result())
                deaths_in_a_row = 0
            except BrokenProcessPool:
                deaths_in_a_row += 1
                if deaths_in_a_row >= MAX_DEATHS_IN_A_ROW:
                    # Not one poisonous patient: the workers cannot run at all.
                    raise BatchError(
                        f"{deaths_in_a_row} worker processes in a row died on single patients; "
                        "stopping: fix the cause, then re-run with --retry-failed"
                    ) from None
                self._renew()
                oo = outcome("exception", "the worker process died while evaluating this patient")
                rec = failed_record(pid, "error", oo, len(lines))
                emit([(pid, "error", dumps(rec))])


def _mark_incomplete(item: tuple[str, str, str], stats: ReadStats) -> tuple[str, str, str]:
    """A result line with ``incomplete`` reasons if its patient may miss unread data."""
    pid, status, line = item
    reasons = stats.incomplete_reasons(pid)
    if not reasons:
        return item
    rec = json.loads(line)
    rec["incomplete"] = reasons
    return pid, status, dumps(rec)


def _prepare_out(
    out: Path, now: str | None, engine: str | None, full: bool, inputs: list[str], kb: Any
) -> tuple[str, dict[str, Any]]:
    """Create ``out``, check or write run.json; returns the instant and the run metadata."""
    from ..pipeline import parse_now

    out.mkdir(parents=True, exist_ok=True)
    run_path = out / RUN
    stamp = {"version": kb.version, "digest": kb.digest}
    if run_path.exists():
        try:
            prior = json.loads(run_path.read_text())
            if not isinstance(prior, dict) or not isinstance(prior.get("now"), str):
                raise ValueError("no evaluation instant")
        except (OSError, ValueError):
            raise BatchError(
                f"{run_path} is not a batch's run record: use another --out directory"
            ) from None
        if now is not None and _iso(parse_now(now)) != prior["now"]:
            raise BatchError(
                f"{out} holds results evaluated at {prior['now']}, not {now}: "
                "use another --out directory"
            )
        if prior.get("knowledge") != stamp:
            raise BatchError(
                f"{out} holds results of knowledge {prior.get('knowledge')}, not {stamp}: "
                "use another --out directory"
            )
        return prior["now"], prior
    instant = _iso(parse_now(now))
    meta = {"now": instant, "knowledge": stamp, "engine": engine, "full": full, "inputs": inputs}
    run_path.write_text(json.dumps(meta, indent=2) + "\n")
    return instant, meta


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _done(results: Path, retry_failed: bool) -> set[str]:
    """Patients already recorded; a torn last line is cut off so appending stays valid."""
    if not results.exists():
        return set()
    with open(results, "rb+") as fh:
        data_end = fh.seek(0, os.SEEK_END)
        if data_end:
            fh.seek(max(0, data_end - 1))
            if fh.read(1) != b"\n":
                # find the last newline and cut what follows it
                pos = data_end
                block = 1 << 16
                cut = 0
                while pos > 0:
                    start = max(0, pos - block)
                    fh.seek(start)
                    buf = fh.read(pos - start)
                    i = buf.rfind(b"\n")
                    if i >= 0:
                        cut = start + i + 1
                        break
                    pos = start
                fh.truncate(cut)
    done: set[str] = set()
    for rec in read_records(results):
        pid = str(rec["patient"]).removeprefix("Patient/")
        if rec["status"] == "ok" or not retry_failed:
            done.add(pid)
        else:
            done.discard(pid)
    return done


def run_batch(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    now: str | None = None,
    workers: int | None = None,
    engine: str | None = None,
    full: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    knowledge_root: str | None = None,
) -> BatchReport:
    """Evaluate every patient of a Bulk Data export; see the module docstring.

    ``workers=0`` evaluates in this process (no pool); ``None`` uses one per CPU.
    Raises :class:`BatchError` when ``out`` holds another configuration's results or
    another batch is writing to it.
    """
    from ..kb.loader import load_knowledge

    inputs = [str(p) for p in paths]
    out = Path(out)
    kb = load_knowledge(knowledge_root)  # before the fork: workers inherit it
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out) as lock_fd:
        return _run(
            inputs,
            out,
            kb,
            now=now,
            workers=(os.cpu_count() or 1) if workers is None else max(0, workers),
            engine=engine,
            full=full,
            retry_failed=retry_failed,
            progress=progress,
            shard_bytes=shard_bytes,
            knowledge_root=knowledge_root,
            lock_fd=lock_fd,
        )


@contextmanager
def _exclusive(out: Path) -> Iterator[int | None]:
    """Hold ``out/.lock`` so two batches never append to one results file; yields its fd.

    The lock file holds the pid of the batch that has it. If the lock is held and that
    batch is dead, the holders are its leftover processes: wait briefly for them to exit
    (workers do within a second), then take the lock over; else explain who holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield None
        return
    path = out / LOCK
    with open(path, "a+") as fh:
        owner = _lock_owner(path)
        deadline = time.monotonic() + STALE_LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if owner is None or _alive(owner):
                    who = f" (pid {owner})" if owner is not None else ""
                    raise BatchError(f"another batch{who} is writing to {out}") from None
                if time.monotonic() > deadline:
                    raise BatchError(
                        f"{path} is held by processes left behind by batch pid {owner}, "
                        "which is no longer running: stop them (e.g. fuser -k "
                        f"{path}), then re-run"
                    ) from None
                time.sleep(0.1)
        if owner is not None and not _alive(owner) and owner != os.getpid():
            print(
                f"note: took over the lock of batch pid {owner}, which died; resuming",
                file=sys.stderr,
            )
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield fh.fileno()


def _lock_owner(path: Path) -> int | None:
    """The pid recorded in a lock file, if any."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _run(
    paths: list[str],
    out: Path,
    kb: Any,
    *,
    now: str | None,
    workers: int,
    engine: str | None,
    full: bool,
    retry_failed: bool,
    progress: bool,
    shard_bytes: int,
    knowledge_root: str | None,
    lock_fd: int | None = None,
) -> BatchReport:
    from tqdm import tqdm

    instant, _ = _prepare_out(out, now, engine, full, paths, kb)
    results = out / RESULTS
    done = _done(results, retry_failed)
    t0 = time.perf_counter()
    disable = not progress
    with tqdm(desc="reading", unit="B", unit_scale=True, disable=disable, leave=False) as bar:
        try:
            parts = partition(paths, shard_bytes=shard_bytes, progress=bar.update)
        except InputFileError as exc:
            raise BatchError(str(exc)) from None
    stats = parts.stats
    if not stats.complete:
        print(format_incomplete(stats.to_json()), file=sys.stderr)
    evaluated = 0
    skipped = 0

    def skip(pid: str) -> bool:
        nonlocal skipped
        if pid in done:
            skipped += 1
            return True
        return False

    with parts, open(results, "ab") as sink:
        total = max(0, parts.stats.patients - len(done))
        bar = tqdm(total=total, desc="patients", unit="patient", disable=disable, smoothing=0.1)

        def emit(batch: list[tuple[str, str, str]]) -> None:
            nonlocal evaluated
            if not stats.complete:
                batch = [_mark_incomplete(item, stats) for item in batch]
            sink.write("".join(line + "\n" for _, _, line in batch).encode())
            sink.flush()
            evaluated += len(batch)
            if bar.total is not None and evaluated > bar.total:
                bar.total = evaluated
            bar.update(len(batch))

        chunks = _chunks(parts.groups(skip=skip))
        try:
            if workers == 0:
                _init_worker(instant, engine, full, knowledge_root)
                for chunk in chunks:
                    emit(_work(chunk))
            else:
                # Only a forked worker has a copy of the lock's descriptor to close.
                inherited = lock_fd if start_method() == "fork" else None
                pool = _Pool(
                    workers, (instant, engine, full, knowledge_root, os.getpid(), inherited)
                )
                try:
                    pool.run(chunks, emit)
                finally:
                    pool.close()
        finally:
            bar.close()
        read = parts.stats
    seconds = time.perf_counter() - t0
    summary = summarize_file(results)
    summary.update(now=instant, knowledge={"version": kb.version, "digest": kb.digest})
    summary["read"] = read.to_json()
    summary["last_run"] = {
        "evaluated": evaluated,
        "skipped": skipped,
        "seconds": round(seconds, 3),
        "workers": workers,
        "patients_per_second": round(evaluated / seconds, 1) if seconds else None,
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return BatchReport(out, instant, workers, evaluated, skipped, seconds, read, summary)
