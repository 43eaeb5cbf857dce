"""Read a FHIR Bulk Data export and group its resources by patient, in bounded memory.

A Bulk Data export is a set of NDJSON files, one resource per line, usually one
resource type per file (``Condition.000.ndjson``). Resources of one patient are
spread over every file, so grouping needs either the whole export in memory or a
second pass. This module does the second pass through disk:

1. **Partition.** Every relevant line is appended, prefixed with its patient id, to
   one of ``K`` shard files in a temporary directory, chosen by a stable hash of the
   patient id. Lines are bytes and are not parsed when a cheap, exact check finds
   their type and patient; everything else is parsed with :func:`json.loads`.
2. **Group.** Each shard (about ``shard_bytes`` big) is read alone and grouped by
   patient in memory, so memory is bounded by one shard, not by the export.

Files whose name names an irrelevant type (``Encounter.000.ndjson``) are skipped
after checking their first line; lines of other types are skipped without parsing.
``Medication`` resources (no subject) are kept in a small table and joined to the
patients whose MedicationRequest/MedicationStatement references them.

Missing data is never silent:

* An input that cannot be read at all (a FIFO, a directory or dangling symbolic link
  named ``*.ndjson``, a file without read permission, a ``.gz`` that is not gzip) stops
  the run before anything is evaluated: :class:`InputFileError` names every such file.
* A line that is not JSON is reported by file and line number (:attr:`ReadStats.broken`);
  the patient it names, when its subject can still be read, is marked as affected.
* A file that ends inside a line, or whose compressed stream breaks off, is reported as
  truncated (:attr:`ReadStats.truncated_files`): the lines after the cut are lost, and
  they may belong to any patient.
"""

from __future__ import annotations

import builtins
import gzip
import json
import os
import re
import shutil
import stat
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from .._errors import CdsBackpainError

#: Resource types an evaluation reads; every other type is skipped.
PATIENT_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "ServiceRequest",
        "Procedure",
        "MedicationDispense",
    }
)
RELEVANT_TYPES = PATIENT_TYPES | {"Medication"}

#: Default size of one shard: the most export bytes held in memory at once.
DEFAULT_SHARD_BYTES = 64 * 1024 * 1024
_MAX_SHARDS = 512

_TYPE_AT_START = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"')
_SUBJECT_KEY = re.compile(rb'"(?:subject|patient)"\s*:')
_SUBJECT_REF = re.compile(
    rb'"(?:subject|patient)"\s*:\s*\{\s*"reference"\s*:\s*"(?:Patient/|urn:uuid:)'
    rb'([A-Za-z0-9\-.]{1,64})"'
)
_MEDICATION_REF = re.compile(
    rb'"medicationReference"\s*:\s*\{[^{}]*"reference"\s*:\s*"Medication/([A-Za-z0-9\-.]{1,64})"'
)
_FILE_TYPE = re.compile(r"^([A-Z][A-Za-z]+)(?:\.|$)")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PATIENT_ID = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9\-.]{1,64})"')

#: Broken lines listed by name in :class:`ReadStats` (all are counted).
MAX_LISTED_PROBLEMS = 100


class InputFileError(CdsBackpainError, FileNotFoundError):
    """Input files that cannot be read; ``problems`` maps each file to why."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        listed = "; ".join(f"{name}: {why}" for name, why in problems.items())
        super().__init__(f"cannot read the export: {listed}")


def _not_readable(p: Path) -> str | None:
    """Why ``p`` cannot be read as an NDJSON file, or None if it is a readable file."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return "a dangling symbolic link" if p.is_symlink() else "no such file or directory"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if stat.S_ISDIR(st.st_mode):
        return "a directory, not an NDJSON file"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO (named pipe), not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not os.access(p, os.R_OK):
        return "permission denied"
    return None


def find_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The NDJSON files named by ``paths``: files as given, directories' ``*.ndjson[.gz]``.

    Raises :class:`InputFileError` naming every path (or ``*.ndjson`` directory entry) that
    is not a readable regular file: none is skipped without a word.
    """
    out: list[Path] = []
    problems: dict[str, str] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for q in sorted(q for q in p.iterdir() if _is_ndjson(q)):
                why = _not_readable(q)
                if why:
                    problems[str(q)] = why
                else:
                    out.append(q)
            continue
        why = _not_readable(p)
        if why:
            problems[str(p)] = why
        else:
            out.append(p)
    if problems:
        raise InputFileError(problems)
    return out


def _is_ndjson(p: Path) -> bool:
    return p.name.endswith((".ndjson", ".ndjson.gz"))


def _open(path: Path) -> gzip.GzipFile | BinaryIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb", buffering=1024 * 1024)


def type_from_name(path: Path) -> str | None:
    """The resource type a Bulk Data file's name announces (``Condition.000.ndjson``)."""
    m = _FILE_TYPE.match(path.name)
    return m.group(1) if m else None


def reference_patient(ref: object) -> str | None:
    """The patient id in a reference ``Patient/<id>`` or ``urn:uuid:<id>``, else None."""
    if not isinstance(ref, dict):
        return None
    text = ref.get("reference")
    if not isinstance(text, str):
        return None
    for prefix in ("Patient/", "urn:uuid:"):
        if text.startswith(prefix):
            pid = text[len(prefix) :]
            return pid if _FHIR_ID.match(pid) else None
    return None


def resource_patient(resource: dict[str, Any]) -> str | None:
    """The id of the patient a parsed resource belongs to (its own id for a Patient)."""
    if resource.get("resourceType") == "Patient":
        pid = resource.get("id")
        return pid if isinstance(pid, str) and _FHIR_ID.match(pid) else None
    for key in ("subject", "patient"):
        pid = reference_patient(resource.get(key))
        if pid:
            return pid
    return None


def classify(line: bytes) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """``(resourceType, patient id, parsed or None)`` of one NDJSON line, parsing only if needed.

    The fast path reads the type at the start of the line and the patient from the
    only ``subject``/``patient`` key in it, when its brackets pair up; anything less
    certain is parsed.
    """
    m = _TYPE_AT_START.match(line)
    rtype = m.group(1).decode() if m else None
    if rtype is not None and rtype not in RELEVANT_TYPES:
        return rtype, None, None
    if rtype is not None and rtype not in ("Patient", "Medication"):
        ref = _SUBJECT_REF.search(line)
        if ref is not None and len(_SUBJECT_KEY.findall(line)) == 1 and _balanced(line):
            return rtype, ref.group(1).decode(), None
    try:
        parsed = json.loads(line)
    except ValueError:
        return None, None, None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
        return None, None, None
    rtype = parsed["resourceType"]
    if rtype not in RELEVANT_TYPES:
        return rtype, None, parsed
    return rtype, resource_patient(parsed), parsed


def _balanced(line: bytes) -> bool:
    """Whether a line ends like a JSON object and its braces pair up: a prefix of an object
    that ends in ``}`` still lacks the object's own ``}``, so a line cut short fails this
    (unless strings hold braces that make up for it) and is parsed, so found broken."""
    return line.endswith(b"}") and line.count(b"{") == line.count(b"}")


@dataclass
class ReadStats:
    """What the partition pass saw."""

    files: int = 0
    skipped_files: list[str] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    #: Lines that are not JSON objects with a resourceType (blank lines are not counted).
    unreadable: int = 0
    #: Lines that are not JSON at all (data lost): ``{"file", "line", "patient"}``, the
    #: first :data:`MAX_LISTED_PROBLEMS` of them; ``broken_lines`` counts all.
    broken: list[dict[str, Any]] = field(default_factory=list)
    broken_lines: int = 0
    #: Broken lines whose patient cannot be told.
    unattributed: int = 0
    #: Files that end inside a line or whose compressed stream breaks off: file -> why.
    truncated_files: dict[str, str] = field(default_factory=dict)
    #: Patient id -> why its data may be incomplete (broken lines that name it).
    affected: dict[str, list[str]] = field(default_factory=dict)
    #: Relevant resources with no patient reference (other than Medication).
    orphans: int = 0
    #: Lines of types the evaluation does not read.
    ignored: int = 0
    #: Number of Patient resources: the expected patient count.
    patients: int = 0
    medications: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "skipped_files": self.skipped_files,
            "lines": self.lines,
            "bytes": self.bytes,
            "by_type": dict(sorted(self.by_type.items())),
            "unreadable": self.unreadable,
            "broken_lines": self.broken_lines,
            "broken": self.broken,
            "unattributed": self.unattributed,
            "truncated_files": self.truncated_files,
            "affected_patients": len(self.affected),
            "orphans": self.orphans,
            "ignored": self.ignored,
            "patients": self.patients,
            "medications": self.medications,
        }

    @property
    def complete(self) -> bool:
        """Whether every line of the export was read."""
        return not (self.broken_lines or self.truncated_files)

    def incomplete_reasons(self, patient: str) -> list[str]:
        """Why ``patient``'s data may be incomplete (empty: as far as can be told, whole)."""
        reasons = list(self.affected.get(patient, ()))
        for name, why in self.truncated_files.items():
            reasons.append(f"{name} is truncated ({why}): lines of any patient may be lost")
        if self.unattributed:
            reasons.append(
                f"{self.unattributed} unreadable lines name no patient that can be told: "
                "they may be this patient's"
            )
        return reasons

    # ``builtins.bytes``: in this class body ``bytes`` names the byte-count field.
    def note_broken(self, path: Path, number: int, line: builtins.bytes) -> None:
        """Record an unparsable line: listed by name, and its patient if it can be told."""
        self.broken_lines += 1
        pid = salvage_patient(line)
        if len(self.broken) < MAX_LISTED_PROBLEMS:
            self.broken.append({"file": path.name, "line": number, "patient": pid})
        if pid is None:
            self.unattributed += 1
            return
        reasons = self.affected.setdefault(pid, [])
        if len(reasons) < 5:
            reasons.append(f"{path.name} line {number} is not JSON")


def salvage_patient(line: bytes) -> str | None:
    """The patient an unparsable line names, if its subject (or a Patient's id) survived."""
    m = _SUBJECT_REF.search(line)
    if m:
        return m.group(1).decode()
    if is_patient_line(line):
        m = _PATIENT_ID.search(line)
        return m.group(1).decode() if m else None
    return None


@dataclass(frozen=True)
class PatientGroup:
    """One patient's resources as raw NDJSON lines (the Patient first, if present)."""

    patient: str
    lines: tuple[bytes, ...]

    def resources(self) -> list[dict[str, Any]]:
        """The resources parsed, in a canonical order (the Patient, then by type and id).

        Lines that belong to another patient are dropped, so a grouping mistake can
        never mix two patients. The order does not depend on how the export was split,
        so the local and the Spark batch hand ``evaluate()`` the same list.
        """
        out: list[dict[str, Any]] = []
        for line in self.lines:
            res = json.loads(line)
            rtype = res.get("resourceType") if isinstance(res, dict) else None
            if rtype == "Medication" or resource_patient(res) == self.patient:
                out.append(res)
        out.sort(key=_canonical)
        return out


def _canonical(res: dict[str, Any]) -> tuple[bool, str, str]:
    rtype = str(res.get("resourceType"))
    return rtype != "Patient", rtype, str(res.get("id", ""))


def _first_line_type(path: Path) -> str | None:
    try:
        with _open(path) as fh:
            for line in fh:
                if line.strip():
                    return classify(line)[0]
    except (OSError, EOFError, zlib.error):
        return None  # read in full, where the fault is reported
    return None


class Partitioned:
    """An export split into per-patient-hash shards on disk; iterate for patient groups.

    Use as a context manager (the shards are deleted on exit)::

        with partition(["export/"]) as parts:
            for group in parts:
                ...
    """

    def __init__(
        self,
        directory: Path,
        shards: list[Path],
        stats: ReadStats,
        medications: dict[str, bytes],
        owned: bool,
    ):
        self.directory = directory
        self.shards = shards
        self.stats = stats
        self.medications = medications
        self._owned = owned

    def __enter__(self) -> Partitioned:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __iter__(self) -> Iterator[PatientGroup]:
        return self.groups()

    def groups(self, skip: Callable[[str], bool] | None = None) -> Iterator[PatientGroup]:
        """Every patient's group, shard by shard (sorted by patient id within a shard)."""
        for shard in self.shards:
            by_patient: dict[str, list[bytes]] = {}
            with open(shard, "rb", buffering=1024 * 1024) as fh:
                for record in fh:
                    pid_b, _, line = record.rstrip(b"\n").partition(b"\t")
                    by_patient.setdefault(pid_b.decode(), []).append(line)
            for pid in sorted(by_patient):
                if skip is not None and skip(pid):
                    continue
                yield PatientGroup(pid, self._with_medications(by_patient[pid]))

    def _with_medications(self, lines: list[bytes]) -> tuple[bytes, ...]:
        # The Patient line first: readers see who the group is about before the rest.
        lines.sort(key=lambda ln: not is_patient_line(ln))
        if not self.medications:
            return tuple(lines)
        seen: set[str] = set()
        extra: list[bytes] = []
        for line in lines:
            for mid in medication_ids(line):
                if mid in self.medications and mid not in seen:
                    seen.add(mid)
                    extra.append(self.medications[mid])
        return (*lines, *extra)


def medication_ids(line: bytes) -> list[str]:
    """Ids of the Medication a MedicationRequest/Statement line names in medicationReference."""
    if b'"medicationReference"' not in line:
        return []
    m = _MEDICATION_REF.search(line)
    if m is not None:
        return [m.group(1).decode()]
    try:  # an unusual layout: read it properly
        ref = json.loads(line).get("medicationReference", {}).get("reference", "")
    except (ValueError, AttributeError):
        return []
    if not isinstance(ref, str) or not ref.startswith("Medication/"):
        return []
    mid = ref.removeprefix("Medication/")
    return [mid] if _FHIR_ID.match(mid) else []


def is_patient_line(line: bytes) -> bool:
    """Whether an NDJSON line starts as a Patient resource."""
    m = _TYPE_AT_START.match(line)
    return m is not None and m.group(1) == b"Patient"


def _shard_count(files: list[Path], shard_bytes: int) -> int:
    size = 0
    for f in files:
        n = f.stat().st_size
        size += n * 8 if f.name.endswith(".gz") else n
    return max(1, min(_MAX_SHARDS, -(-size // max(1, shard_bytes))))


def partition(
    paths: Iterable[str | os.PathLike[str]],
    *,
    workdir: str | os.PathLike[str] | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: Callable[[int], None] | None = None,
) -> Partitioned:
    """Split an export into shards of patients (pass 1). ``progress(n)`` gets bytes read.

    ``workdir`` is the parent of the temporary shard directory (default: the system
    temp dir). Raises :class:`FileNotFoundError` for a missing path.
    """
    files = find_inputs(paths)
    stats = ReadStats(files=len(files))
    unreadable: dict[str, str] = {}
    read: list[Path] = []
    for f in files:
        named = type_from_name(f)
        if named is not None and named not in RELEVANT_TYPES and _first_line_type(f) == named:
            stats.skipped_files.append(f.name)
            if progress:
                progress(f.stat().st_size)
            continue
        read.append(f)
    k = _shard_count(read, shard_bytes)
    directory = Path(tempfile.mkdtemp(prefix="cds-backpain-shards-", dir=workdir))
    shard_paths = [directory / f"shard-{i:04d}" for i in range(k)]
    medications: dict[str, bytes] = {}
    outs = [open(p, "wb", buffering=256 * 1024) for p in shard_paths]  # noqa: SIM115
    try:
        for f in read:
            why = _partition_file(f, outs, stats, medications, progress)
            if why is not None:
                unreadable[str(f)] = why
        if unreadable:
            raise InputFileError(unreadable)
    except BaseException:
        for o in outs:
            o.close()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    for o in outs:
        o.close()
    stats.medications = len(medications)
    return Partitioned(directory, shard_paths, stats, medications, owned=True)


def _partition_file(
    path: Path,
    outs: Sequence[IO[bytes]],
    stats: ReadStats,
    medications: dict[str, bytes],
    progress: Callable[[int], None] | None,
) -> str | None:
    """Partition one file; the reason if it cannot be read at all (nothing was read).
    A file that breaks off after its first line is recorded as truncated."""
    k = len(outs)
    pending = 0
    number = 0
    try:
        with _open(path) as fh:
            for raw in fh:
                number += 1
                n = len(raw)
                stats.bytes += n
                pending += n
                if progress is not None and pending >= 1 << 20:
                    progress(pending)
                    pending = 0
                line = raw.strip()
                if not line:
                    continue
                stats.lines += 1
                rtype, pid, parsed = classify(line)
                if parsed is None and raw[-1:] != b"\n" and not _is_json(line):
                    # The last line, without its newline, does not parse: cut off mid-line.
                    stats.truncated_files[path.name] = f"line {number} is cut off"
                    rtype = None
                if rtype is None:
                    stats.unreadable += 1
                    if not _is_json(line):
                        stats.note_broken(path, number, line)
                    continue
                stats.by_type[rtype] += 1
                if rtype not in RELEVANT_TYPES:
                    stats.ignored += 1
                    continue
                if rtype == "Medication":
                    parsed = parsed if parsed is not None else json.loads(line)
                    mid = parsed.get("id")
                    if isinstance(mid, str):
                        medications[mid] = line
                    continue
                if pid is None:
                    stats.orphans += 1
                    continue
                if rtype == "Patient":
                    stats.patients += 1
                if b"\n" in line or b"\r" in line:  # never: NDJSON lines hold no raw newlines
                    line = json.dumps(json.loads(line), separators=(",", ":")).encode()
                pid_b = pid.encode()
                outs[zlib.crc32(pid_b) % k].write(pid_b + b"\t" + line + b"\n")
    except (OSError, EOFError, zlib.error) as exc:
        why = _read_error(exc)
        if number == 0:
            return why
        stats.truncated_files[path.name] = f"{why} after line {number}"
    if progress is not None and pending:
        progress(pending)
    return None


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({exc})"
    if isinstance(exc, EOFError):
        return "the compressed stream ends early"
    if isinstance(exc, zlib.error):
        return f"the compressed data are corrupt ({exc})"
    return getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def iter_lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of one NDJSON file (``.gz`` read transparently)."""
    with _open(path) as fh:
        for raw in fh:
            line = raw.strip()
            if line:
                yield line


def group_patients(
    paths: Iterable[str | os.PathLike[str]], *, shard_bytes: int = DEFAULT_SHARD_BYTES
) -> Iterator[PatientGroup]:
    """Every patient's group in an export (convenience over :func:`partition`)."""
    with partition(paths, shard_bytes=shard_bytes) as parts:
        yield from parts
