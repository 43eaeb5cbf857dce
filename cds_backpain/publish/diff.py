"""What changed between two knowledge directories: rules, parameters, codes, templates, sources.

:func:`knowledge_diff` compares two loaded knowledge bases and returns plain JSON;
:func:`render_diff` writes it as Markdown. Both read whatever the knowledge holds: any
rule file, parameter, value set or template, not a fixed list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..kb.knowledge import Knowledge
from .fhir_package import compiled_rule

RULE_FIELDS = ("title", "description", "when", "conclude", "provenance")


def _keyed(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Keys only in ``a`` (removed), only in ``b`` (added), and in both with unequal values."""
    removed = sorted(set(a) - set(b))
    added = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return removed, added, changed


def _provenance_keys(rule: Any) -> list[str]:
    out = []
    for ref in rule.provenance:
        d = ref.model_dump(exclude_none=True)
        out.append(f"guideline {d['guideline']}" if "guideline" in d else json.dumps(d))
    return out


def _rule_changes(old: Knowledge, new: Knowledge, rid: str) -> dict[str, Any]:
    a, b = old.rules[rid], new.rules[rid]
    fields = [f for f in RULE_FIELDS if getattr(a, f) != getattr(b, f)]
    ra = a.recommend.model_dump(mode="json") if a.recommend else {}
    rb = b.recommend.model_dump(mode="json") if b.recommend else {}
    recommend = {
        k: {"old": ra.get(k), "new": rb.get(k)}
        for k in sorted(set(ra) | set(rb))
        if ra.get(k) != rb.get(k)
    }
    out: dict[str, Any] = {"fields": fields}
    if recommend:
        out["recommend"] = recommend
    if old.domains[rid] != new.domains[rid]:
        out["domain"] = {"old": old.domains[rid], "new": new.domains[rid]}
    if compiled_rule(old, rid) != compiled_rule(new, rid):
        out["compiled"] = True  # also when only a parameter it uses changed
    if "provenance" in fields:
        pa, pb = _provenance_keys(a), _provenance_keys(b)
        out["provenance"] = {
            "removed": [p for p in pa if p not in pb],
            "added": [p for p in pb if p not in pa],
        }
    return out


def _codes(path: Path) -> set[str]:
    """``system|code`` (and ``system|filter ...``) of a ValueSet or CodeSystem file."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    if doc.get("resourceType") == "CodeSystem":
        return {f"{doc['url']}|{c['code']}" for c in doc.get("concept", [])}
    for inc in doc.get("compose", {}).get("include", []):
        system = inc.get("system", "")
        out |= {f"{system}|{c['code']}" for c in inc.get("concept", [])}
        out |= {
            f"{system}|filter {f.get('property')} {f.get('op')} {f.get('value')}"
            for f in inc.get("filter", [])
        }
    return out


def _terminology(old: Knowledge, new: Knowledge, folder: str) -> dict[str, Any]:
    a = {p.name: _codes(p) for p in sorted((Path(old.root) / folder).glob("*.json"))}
    b = {p.name: _codes(p) for p in sorted((Path(new.root) / folder).glob("*.json"))}
    removed, added, changed = _keyed(a, b)
    return {
        "removed": removed,
        "added": added,
        "changed": {
            name: {"removed": sorted(a[name] - b[name]), "added": sorted(b[name] - a[name])}
            for name in changed
        },
    }


def _dumped(items: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for k, v in items.items()
    }


def _section(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    removed, added, changed = _keyed(old, new)
    return {"removed": removed, "added": added, "changed": changed}


def _files(root: str) -> dict[str, bytes]:
    base = Path(root)
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def knowledge_diff(old: Knowledge, new: Knowledge) -> dict[str, Any]:
    """Every difference between two knowledge bases, as plain JSON."""
    r_removed, r_added, _ = _keyed(old.rules, new.rules)
    common = [rid for rid in new.rules if rid in old.rules]
    rules_changed = {rid: _rule_changes(old, new, rid) for rid in common}
    rules_changed = {k: v for k, v in rules_changed.items() if v["fields"] or len(v) > 1}
    pa, pb = _dumped(old.parameters), _dumped(new.parameters)
    p_removed, p_added, p_changed = _keyed(pa, pb)
    params = {
        "removed": p_removed,
        "added": p_added,
        "changed": {
            name: {
                k: {"old": pa[name].get(k), "new": pb[name].get(k)}
                for k in sorted(set(pa[name]) | set(pb[name]))
                if pa[name].get(k) != pb[name].get(k)
            }
            for name in p_changed
        },
    }
    return {
        "old": {"version": old.version, "digest": old.digest, "root": old.root},
        "new": {"version": new.version, "digest": new.digest, "root": new.root},
        "identical": old.digest == new.digest,
        "rules": {"removed": r_removed, "added": r_added, "changed": rules_changed},
        "parameters": params,
        "policy": {
            "old": old.policy.model_dump(mode="json"),
            "new": new.policy.model_dump(mode="json"),
        }
        if old.policy != new.policy
        else {},
        "valuesets": _terminology(old, new, "valuesets"),
        "codesystems": _terminology(old, new, "codesystems"),
        "templates": _section(old.templates, new.templates),
        "guidelines": _section(_dumped(old.guidelines), _dumped(new.guidelines)),
        "sources": _section(_dumped(old.sources), _dumped(new.sources)),
        "files": _section(_files(old.root), _files(new.root)),
    }


def diff_is_empty(diff: Mapping[str, Any]) -> bool:
    """True when no section lists a change (the digests may still differ, e.g. comments)."""

    def empty(v: Any) -> bool:
        if isinstance(v, dict):
            return all(empty(x) for x in v.values())
        return not v

    return all(empty(diff[k]) for k in diff if k not in ("old", "new", "identical", "files"))


def _or_none(lines: list[str]) -> list[str]:
    return lines or ["- no change"]


def _list(title: str, items: Iterable[str]) -> list[str]:
    items = list(items)
    return [f"- {title}: " + ", ".join(f"`{i}`" for i in items)] if items else []


def _rule_lines(rules: Mapping[str, Any]) -> list[str]:
    out = _list("removed", rules["removed"]) + _list("added", rules["added"])
    for rid, ch in rules["changed"].items():
        what = list(ch["fields"])
        what += [
            f"recommend.{k}: {v['old']!r} → {v['new']!r}"
            for k, v in ch.get("recommend", {}).items()
        ]
        if "domain" in ch:
            what.append(f"domain {ch['domain']['old']} → {ch['domain']['new']}")
        if ch.get("compiled"):
            what.append("compiled form changed")
        for k in ("removed", "added"):
            what += [f"provenance {k} {p}" for p in ch.get("provenance", {}).get(k, [])]
        out.append(f"- `{rid}` changed: " + "; ".join(what))
    return out


def change_line(name: str, ch: Mapping[str, Any]) -> str:
    """One changed item as a Markdown bullet: ``- `name`: field old → new; ...``."""
    return f"- `{name}`: " + "; ".join(f"{k} {v['old']!r} → {v['new']!r}" for k, v in ch.items())


def report_head(title: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The first lines of a Markdown report comparing two knowledge bases."""
    return [
        f"# {title}",
        "",
        f"- old: version {old['version']}, digest `{old['digest']}`",
        f"- new: version {new['version']}, digest `{new['digest']}`",
    ]


def render_diff(diff: Mapping[str, Any]) -> str:
    """The diff as Markdown: one section per kind of content, "no change" where none."""
    out = [*report_head("Knowledge diff", diff["old"], diff["new"]), ""]
    if diff["identical"]:
        return "\n".join([*out, "The two knowledge bases are identical.", ""])
    sections: list[tuple[str, list[str]]] = [("Rules", _rule_lines(diff["rules"]))]
    params = diff["parameters"]
    sections.append(
        (
            "Parameters",
            _list("removed", params["removed"])
            + _list("added", params["added"])
            + [change_line(k, v) for k, v in params["changed"].items()],
        )
    )
    policy = diff["policy"]
    sections.append(
        ("Policy", [f"- old: `{policy['old']}`", f"- new: `{policy['new']}`"] if policy else [])
    )
    for key, title in (("valuesets", "Value set codes"), ("codesystems", "Code system codes")):
        t = diff[key]
        lines = _list("removed", t["removed"]) + _list("added", t["added"])
        for name, ch in t["changed"].items():
            lines += _list(f"`{name}` codes removed", ch["removed"])
            lines += _list(f"`{name}` codes added", ch["added"])
        sections.append((title, lines))
    for key, title in (
        ("templates", "Templates"),
        ("guidelines", "Guidelines (provenance)"),
        ("sources", "Source documents (provenance)"),
        ("files", "Files"),
    ):
        s = diff[key]
        sections.append(
            (
                title,
                _list("removed", s["removed"])
                + _list("added", s["added"])
                + _list("changed", s["changed"]),
            )
        )
    for title, lines in sections:
        out += [f"## {title}", "", *_or_none(lines), ""]
    return "\n".join(out).rstrip() + "\n"
