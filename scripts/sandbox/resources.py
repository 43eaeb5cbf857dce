"""Write the resources of bundled examples as one JSON array for the sandbox's FHIR server.

    python scripts/sandbox/resources.py OUT.json 09-cauda-equina-classic 02-mechanical-mri-...

Draft ServiceRequests are left out (the sandbox's own screens send the drafts); ids other
than the Patient's get the example number appended, so several patients can share a server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_examples"


def main(out: str, names: list[str]) -> None:
    resources = []
    for name in names:
        bundle = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "ServiceRequest":
                continue
            if res["resourceType"] != "Patient":
                res = {**res, "id": f"{res['id']}-{name[:2]}"}
            resources.append(res)
    Path(out).write_text(json.dumps(resources), encoding="utf-8")
    print(f"{len(resources)} resources -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
