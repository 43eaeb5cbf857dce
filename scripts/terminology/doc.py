"""Generate docs/terminology.md from the knowledge files (one-off; the doc is then hand-kept)."""

import json
from pathlib import Path

K = Path("/work/main/knowledge")
SD = "https://cds-backpain.example.org/fhir/StructureDefinition/"
NAMES = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "https://cds-backpain.example.org/fhir/CodeSystem/findings": "findings (ours)",
}
KIND_ORDER = ["finding", "measure", "med", "order"]
KIND_TITLE = {"finding": "Findings", "measure": "Measures", "med": "Medications", "order": "Imaging orders"}

cs = json.loads((K / "codesystems/findings.json").read_text())
own = {c["code"]: c for c in cs["concept"]}


def ext(obj, name):
    for e in obj.get("extension", []):
        if e["url"] == SD + name:
            return e.get("valueCode", e.get("valueString"))
    return None


vss = [json.loads(p.read_text()) for p in sorted((K / "valuesets").glob("*.json"))]
by_kind = {k: [] for k in KIND_ORDER}
for vs in vss:
    by_kind[ext(vs, "fact-kind")].append(vs)

out = []
w = out.append
w(open("/tmp/terms/doc_head.md").read().rstrip() + "\n")

for kind in KIND_ORDER:
    w(f"\n## {KIND_TITLE[kind]}\n")
    for vs in sorted(by_kind[kind], key=lambda v: v["id"]):
        key = vs["id"].replace("-", "_")
        w(f"\n### `{key}` — {vs['title']}\n")
        meta = [f"kind **{kind}**", f"ValueSet `{vs['id']}.json`"]
        if ext(vs, "canonical-unit"):
            meta.append(f"unit `{ext(vs, 'canonical-unit')}`")
        if ext(vs, "imaging-modality"):
            meta.append(f"modality `{ext(vs, 'imaging-modality')}`")
        w(", ".join(meta) + ".\n")
        rows = []
        for inc in vs["compose"]["include"]:
            sysname = NAMES.get(inc["system"], inc["system"])
            for c in inc.get("concept", []):
                code = c["code"]
                if inc["system"].endswith("/CodeSystem/findings"):
                    code = f"findings#{code}"
                side = ext(c, "laterality")
                rows.append((sysname, f"`{code}`", c["display"], ext(c, "code-confidence"), side or ""))
            for f in inc.get("filter", []):
                rows.append((sysname, f"regex `{f['value']}`", "code family (see description)",
                             ext(inc, "code-confidence"), ""))
        if len(rows) > 14 and kind == "med":
            # long SCD lists: summarise
            head = [r for r in rows if " MG" not in r[2]]
            n_scd = len(rows) - len(head)
            if head:
                w("| System | Code | Display | Confidence | Side |\n|---|---|---|---|---|")
            for r in head:
                w("| " + " | ".join(r) + " |")
            w(f"\n{'Plus ' if head else ''}{n_scd} RxNorm clinical drugs (SCD, MEDIUM) from CDS4CPM-73, listed in `{vs['id']}.json`.\n")
        else:
            w("| System | Code | Display | Confidence | Side |\n|---|---|---|---|---|")
            for r in rows:
                w("| " + " | ".join(r) + " |")
        desc = vs["description"]
        w(f"\n{desc}\n")
        own_rows = [c["code"] for inc in vs["compose"]["include"]
                    if inc["system"].endswith("/CodeSystem/findings") for c in inc.get("concept", [])]
        for code in own_rows:
            d = own[code]
            if kind == "measure":
                how = (f"Record as an Observation with `code` = `findings#{code}` and `valueQuantity` "
                       f"in UCUM `{ext(vs, 'canonical-unit')}`.")
            else:
                how = (f"Record as an Observation with `code` = `findings#{code}`, `valueBoolean` "
                       f"`true` (present) or `false` (absent; SNOMED 2667000 Absent also works).")
            w(f"**Gap covered by our CodeSystem.** {how} Definition: {d['definition']}\n")

w(open("/tmp/terms/doc_tail.md").read().rstrip() + "\n")
import re
text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
Path("/work/main/docs/terminology.md").write_text(text)
print("ok", len(vss))
