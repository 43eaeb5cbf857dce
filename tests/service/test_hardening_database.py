"""A database that cannot be written (issue 12): a full disk makes hooks and feedback
answer 503 with the database's message in the log; a read-only database is reported at
start-up and the service does not start."""

from __future__ import annotations

import json
import os
import resource

import pytest
from conformance import check_outcome
from service_support import (
    Service,
    example_resources,
    hook_request,
    serve_command,
    start_service,
    stop,
)

from cds_backpain.service.db import open_database

PV = "lbp-patient-view"
FB = f"/cds-services/{PV}/feedback"
#: Largest file the service may write: the disk is "full" past it (RLIMIT_FSIZE; Python
#: ignores SIGXFSZ, so a write past it fails with EFBIG, as on a full disk).
FILE_LIMIT = 1024 * 1024


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture(scope="module")
def full_disk_service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full-disk")
    proc, url, log, database = start_service(
        tmp, ["--insecure-dev"], {}, preexec_fn=_limit_file_size
    )
    svc = Service(url, log, database)
    yield svc
    svc.client.close()
    stop(proc)


def _fill(svc: Service, comment_bytes: int, prefix: str) -> list[int]:
    """Post distinct feedback until the database refuses a write; the status codes seen."""
    codes = []
    for i in range(200):
        item = {
            "card": f"{prefix}-{i}",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-06-01T12:00:00Z",
            "overrideReason": {"userComment": "x" * comment_bytes},
        }
        r = svc.post(FB, {"feedback": [item]})
        codes.append(r.status_code)
        if r.status_code != 200:
            check_outcome(r.json())
            break
    return codes


def test_a_full_disk_is_503_with_the_database_message_logged(full_disk_service):
    svc = full_disk_service
    codes = _fill(svc, 100_000, "big") + _fill(svc, 500, "small")
    assert codes.count(503) == 2 and 500 not in codes, codes
    # Hook calls that must record new cards answer 503 too.
    hooks = [
        svc.call(PV, hook_request("patient-view", example_resources(name))).status_code
        for name in ("09-", "08-", "17-", "14-")
    ]
    assert 503 in hooks and 500 not in hooks, hooks
    records = [json.loads(x) for x in svc.log.read_text().splitlines() if x.startswith("{")]
    errors = [r["db_error"] for r in records if r.get("event") == "db_error"]
    assert errors and any("full" in e or "I/O" in e for e in errors), errors
    assert "Exception in ASGI application" not in svc.log.read_text()


def test_a_read_only_database_is_reported_at_start_up(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    open_database(f"sqlite:///{path}").dispose()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    out = serve_command("--insecure-dev", "--database", url, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "cannot be written" in out.stderr and "readonly" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_database_directory_is_reported_at_start_up(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        out = serve_command(
            "--insecure-dev", "--database", f"sqlite:///{ro / 'x.sqlite3'}", cwd=tmp_path
        )
    finally:
        ro.chmod(0o755)
    assert out.returncode == 2 and str(ro) in out.stderr, out.stderr
