"""The service under concurrent load never answers one patient's request with another's
conclusions: every concurrent answer equals the one the same request got alone."""

from __future__ import annotations

import concurrent.futures
import json
import random
import threading

import httpx
from conformance import check_response
from service_support import example_resources, hook_request, patient_id

from cds_backpain.examples import load_examples
from cds_backpain.service.pama import CONSULT_ID_URL

PV = "lbp-patient-view"
SELECT = "lbp-imaging-order-select"
CLIENTS = 12


def _requests() -> list[tuple[str, str, dict]]:
    """(patient id, service id, body) for every example: patient-view, and order-select for
    the examples with draft orders."""
    out = []
    for ex in load_examples():
        resources = example_resources(ex.name)
        pid = patient_id(resources)
        out.append((pid, PV, hook_request("patient-view", resources)))
        if any(r["resourceType"] == "ServiceRequest" for r in resources):
            out.append((pid, SELECT, hook_request("order-select", resources)))
    return out


def _without_consult_ids(value):
    """The answer minus the PAMA consult id, which is new for every consultation."""
    if isinstance(value, dict):
        if value.get("url") == CONSULT_ID_URL:
            return {"url": CONSULT_ID_URL}
        return {k: _without_consult_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_consult_ids(v) for v in value]
    return value


def _answer(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    check_response(body)
    return _without_consult_ids(body)


def test_concurrent_answers_equal_sequential_answers(service):
    requests = _requests()
    assert len({pid for pid, _, _ in requests}) >= 40
    alone = [_answer(service.call(sid, body)) for _, sid, body in requests]

    local = threading.local()
    clients: list[httpx.Client] = []

    def call(i: int) -> tuple[int, dict]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=60)
            clients.append(client)
        _, sid, body = requests[i]
        path = f"/cds-services/{sid}"
        headers = {"Accept": "application/json", **service.auth(path)}
        return i, _answer(client.post(service.url + path, json=body, headers=headers))

    jobs = [i for _ in range(3) for i in range(len(requests))]
    random.Random(7).shuffle(jobs)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            answers = list(pool.map(call, jobs))
    finally:
        for client in clients:
            client.close()

    others = {pid for pid, _, _ in requests}
    for i, body in answers:
        pid, sid, _ = requests[i]
        assert body == alone[i], f"{sid} for {pid}: concurrent answer differs from sequential"
        text = json.dumps(body)
        foreign = [p for p in others - {pid} if f'"Patient/{p}"' in text]
        assert not foreign, f"{sid} for {pid} names other patients: {foreign}"
