"""The service as the README starts it: ``serve --insecure-dev``, no config file, no --now
(here with two workers), in a fresh working directory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from service_support import example_resources, free_port, hook_request, stop, wait_http
from test_metrics import PV, scrape

from cds_backpain import evaluate
from cds_backpain.examples import EXAMPLES_NOW, load_examples


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("plain")
    port = free_port()
    log = tmp / "service.log"
    cmd = [sys.executable, "-m", "cds_backpain.cli", "serve", "--insecure-dev", "--workers", "2"]
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=tmp, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, log)
        yield url
    finally:
        stop(proc)


class _Client:
    def __init__(self, url: str):
        self.url = url


def test_the_demo_evaluates_at_the_examples_instant(plain: str):
    listed = httpx.get(f"{plain}/demo/examples", timeout=30).json()
    assert listed["evaluation_instant"] == EXAMPLES_NOW
    ex = next(e for e in load_examples() if e.name.startswith("01-"))
    assert ex.now == EXAMPLES_NOW
    body = hook_request("patient-view", example_resources(ex.name))
    cards = httpx.post(f"{plain}/cds-services/{PV}", json=body, timeout=30).json()["cards"]
    expected = evaluate(ex.path.read_bytes(), now=ex.now).cards
    assert [c["summary"] for c in cards] == [c["summary"] for c in expected]


def test_two_workers_report_the_sum_of_both(plain: str):
    client = _Client(plain)
    before = scrape(client)
    for _ in range(6):
        body = hook_request("patient-view", example_resources("09-"))
        assert httpx.post(f"{plain}/cds-services/{PV}", json=body, timeout=30).is_success
    key = (
        "cds_backpain_red_flag_conclusions_total",
        frozenset({"hook": PV, "category": "cauda_equina"}.items()),
    )
    for _ in range(4):  # whichever worker answers the scrape, it reports all six
        assert scrape(client).get(key, 0) - before.get(key, 0) == 6
