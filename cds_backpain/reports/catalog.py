"""Generate the rule catalog (docs/rules.md) from the knowledge base."""

from __future__ import annotations

from ..kb.knowledge import Knowledge
from ..kb.models import GuidelineRef, Rule, SourceQuote
from ..kb.rule_words import concept_words, when_lines


def _rule_section(kb: Knowledge, rule: Rule) -> list[str]:
    out = [f"### `{rule.id}` — {rule.title}", "", rule.description, ""]
    out += when_lines(kb, rule)
    out.append("")
    rec = rule.recommend
    if rec is None:
        out.append(f"Concludes `{rule.concept}` (used by other rules).")
    else:
        flags = ["**red flag**"] if rec.red_flag else []
        if rec.self_care:
            flags.append("self-care (never shown beside a red flag)")
        out.append(
            f"Recommends: *{rec.summary}* — category `{rec.category}`, urgency `{rec.urgency}`, "
            f"imaging `{rec.imaging}`"
            + (f", rating `{rec.rating}`" if rec.rating else "")
            + (f"; {', '.join(flags)}" if flags else "")
            + "."
        )
        if rec.unless:
            out.append(f"Not shown when: {concept_words(kb, rec.unless)}.")
        if rec.advice:
            out += [f"- {a}" for a in rec.advice]
    out += ["", "Sources (each with what it is evidence for on this rule):"]
    spans = iter(kb.spans[rule.id])
    for ref in rule.provenance:
        evidence = f"**{', '.join(ref.supports)}**"
        if isinstance(ref, GuidelineRef):
            g = kb.guidelines[ref.guideline]
            note = f" *Note for rule authors: {g.note}*" if g.note else ""
            out.append(f"- {evidence}: {g.citation} — {g.statement} <{g.url}>{note}")
        elif isinstance(ref, SourceQuote):
            s = next(spans)
            out.append(
                f"- {evidence}: “{s.quote}” — {s.title}, `{s.source}` chars {s.start}–{s.end}"
            )
    out.append("")
    return out


def render_catalog(kb: Knowledge) -> str:
    """The whole catalog as Markdown (deterministic: same knowledge, same bytes)."""
    out = [
        "# Rule catalog",
        "",
        f"Generated from `knowledge/` (version {kb.version}) by `cds-backpain knowledge catalog`. "
        "Do not edit by hand; CI checks it is current.",
        "",
        "Decision support for clinicians, not a diagnosis. Thresholds are parameters "
        "(`knowledge/parameters.yaml`); where sources conflict the safer reading is the default.",
        "",
        "## Parameters",
        "",
        "| parameter | value | meaning | alternatives |",
        "|---|---|---|---|",
    ]
    for name, p in sorted(kb.parameters.items()):
        unit = f" {p.unit}" if p.unit else ""
        alt = (p.alternatives or "").replace("\n", " ").replace("|", "/")
        desc = p.description.replace("\n", " ").replace("|", "/")
        out.append(f"| `{name}` | {p.value}{unit} | {desc} | {alt} |")
    out.append("")
    by_domain: dict[str, list[Rule]] = {}
    for rid, rule in kb.rules.items():
        by_domain.setdefault(kb.domains[rid], []).append(rule)
    for domain, rules in by_domain.items():
        out += [f"## {domain}", ""]
        for rule in rules:
            out += _rule_section(kb, rule)
    return "\n".join(out).rstrip() + "\n"
