"""The clinical safety case (docs/safety-case.md), generated from knowledge/.

Hazards (``knowledge/hazards.yaml``) → the rules and policy that mitigate them (selected
from the rules by what they recommend, so a new rule joins its hazard by itself) → the
bundled examples and the tests that prove it → the open judgement calls
(``knowledge/judgements.yaml``; those about parameters the mitigating rules use are
attached automatically). Every reference is checked: an unknown rule, policy field,
example, test, parameter or guideline is a :class:`KnowledgeError`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._errors import KnowledgeError
from ..examples import Example
from ..kb.knowledge import Knowledge
from ..kb.models import Policy, Rule

HAZARDS_FILE = "hazards.yaml"
JUDGEMENTS_FILE = "judgements.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSelector(_Strict):
    red_flag_categories: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    ratings: tuple[str, ...] = ()
    self_care: bool = False
    ids: tuple[str, ...] = ()


class ExampleSelector(_Strict):
    categories: tuple[str, ...] = ()
    expect: dict[str, Any] = {}
    ids: tuple[str, ...] = ()
    not_over: tuple[str, ...] = ()


class Hazard(_Strict):
    id: str
    title: str
    harm: str = Field(min_length=10)
    rules: RuleSelector = RuleSelector()
    policy: tuple[str, ...] = ()
    examples: ExampleSelector = ExampleSelector()
    tests: tuple[str, ...] = ()
    judgements: tuple[str, ...] = ()


class HazardFile(_Strict):
    hazards: tuple[Hazard, ...] = Field(min_length=1)


class Judgement(_Strict):
    id: str
    parameter: str | None = None
    #: The decision in words; for a parameter judgement it comes from parameters.yaml.
    decision: str | None = None
    basis: tuple[str, ...] = ()
    alternative: str = Field(min_length=5)
    status: Literal["open", "signed-off", "rejected"] = "open"
    signed_off_by: str | None = None
    date: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Judgement:
        if (self.parameter is None) == (self.decision is None):
            raise ValueError("give either 'parameter' or 'decision' (not both)")
        if self.status != "open" and not (self.signed_off_by and self.date):
            raise ValueError(f"status {self.status!r} needs signed_off_by and date")
        return self


class JudgementFile(_Strict):
    judgements: tuple[Judgement, ...] = ()


def _read(root: Path, name: str, model: type[BaseModel]) -> Any:
    path = root / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except FileNotFoundError:
        raise KnowledgeError([f"{name}: missing"]) from None
    except yaml.YAMLError as exc:
        raise KnowledgeError([f"{name}: not valid YAML: {exc}"]) from None
    except ValidationError as exc:
        raise KnowledgeError(
            [f"{name}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None


def load_safety_data(kb: Knowledge) -> tuple[tuple[Hazard, ...], dict[str, Judgement]]:
    """The hazards and judgements of ``kb``'s directory, checked against the knowledge."""
    root = Path(kb.root)
    hazards = _read(root, HAZARDS_FILE, HazardFile).hazards
    judgements = _read(root, JUDGEMENTS_FILE, JudgementFile).judgements
    problems: list[str] = []
    by_id: dict[str, Judgement] = {}
    for j in judgements:
        if j.id in by_id:
            problems.append(f"{JUDGEMENTS_FILE}: duplicate id {j.id!r}")
        by_id[j.id] = j
        if j.parameter is not None and j.parameter not in kb.parameters:
            problems.append(f"{JUDGEMENTS_FILE}: {j.id}: unknown parameter {j.parameter!r}")
        problems += [
            f"{JUDGEMENTS_FILE}: {j.id}: unknown guideline {b!r} in basis"
            for b in j.basis
            if b not in kb.guidelines
        ]
    seen: set[str] = set()
    for h in hazards:
        where = f"{HAZARDS_FILE}: {h.id}"
        if h.id in seen:
            problems.append(f"{where}: duplicate hazard id")
        seen.add(h.id)
        problems += [f"{where}: unknown rule {r!r}" for r in h.rules.ids if r not in kb.rules]
        problems += [
            f"{where}: unknown policy field {p!r}" for p in h.policy if p not in Policy.model_fields
        ]
        problems += [f"{where}: unknown judgement {j!r}" for j in h.judgements if j not in by_id]
    if problems:
        raise KnowledgeError(problems)
    return hazards, by_id


# -- selection -----------------------------------------------------------------------


def mitigating_rules(kb: Knowledge, sel: RuleSelector) -> list[str]:
    """The recommendation rules a selector names, in load order."""
    out = []
    for rid, rule in kb.rules.items():
        rec = rule.recommend
        picked = rid in sel.ids
        if rec is not None:
            picked |= kb.domains[rid] in sel.domains
            picked |= rec.red_flag and rec.category in sel.red_flag_categories
            picked |= rec.category in sel.categories
            picked |= rec.rating is not None and rec.rating in sel.ratings
            picked |= sel.self_care and rec.self_care
        if picked:
            out.append(rid)
    return out


def _concluded_by(kb: Knowledge) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rid, rule in kb.rules.items():
        out.setdefault(rule.concept, []).append(rid)
    return out


def _patterns(rule: Rule) -> list[Any]:
    return list(rule.when.all) + [p for b in rule.when.any for p in b.patterns]


def supporting_rules(kb: Knowledge, rule_ids: Sequence[str]) -> list[str]:
    """Rules whose conclusions the given rules consume, transitively (not the rules themselves)."""
    by_concept = _concluded_by(kb)
    found: list[str] = []
    todo = list(rule_ids)
    while todo:
        rule = kb.rules[todo.pop()]
        for p in _patterns(rule):
            if p.kind != "conclusion":
                continue
            for concept in p.concepts:
                for rid in by_concept.get(concept, []):
                    if rid not in found and rid not in rule_ids:
                        found.append(rid)
                        todo.append(rid)
    return [rid for rid in kb.rules if rid in found]


def parameters_used(kb: Knowledge, rule_ids: Iterable[str]) -> list[str]:
    """Parameters (``$name``) the rules' tests refer to, sorted."""
    out: set[str] = set()
    for rid in rule_ids:
        for p in _patterns(kb.rules[rid]):
            for t in p.tests:
                values = t.value if isinstance(t.value, tuple) else (t.value,)
                out |= {v[1:] for v in values if isinstance(v, str) and v.startswith("$")}
    return sorted(out)


def matching_examples(examples: Sequence[Example], sel: ExampleSelector) -> list[Example]:
    """Examples whose expectation shows the hazard is caught."""
    out = []
    for ex in examples:
        exp = ex.expected
        picked = ex.name in sel.ids
        picked |= bool(set(exp.get("categories", ())) & set(sel.categories))
        picked |= bool(sel.expect) and all(exp.get(k) == v for k, v in sel.expect.items())
        if picked:
            out.append(ex)
    return out


def not_over_examples(examples: Sequence[Example], sel: ExampleSelector) -> list[Example]:
    """Examples expected *not* to conclude the hazard's categories (no over-triggering)."""
    return [e for e in examples if set(e.expected.get("absent_categories", ())) & set(sel.not_over)]


@lru_cache(maxsize=64)
def _test_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def missing_tests(tests: Iterable[str], checkout: Path) -> list[str]:
    """Node ids (``file::function``) whose file or function does not exist under ``checkout``."""
    out = []
    for node in tests:
        file, _, func = node.partition("::")
        path = checkout / file
        if not func or not path.is_file() or func not in _test_functions(path):
            out.append(node)
    return out


# -- rendering -----------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "/")


def _rule_line(kb: Knowledge, rid: str) -> str:
    rule = kb.rules[rid]
    rec = rule.recommend
    if rec is None:
        return f"`{rid}` — {rule.title} (concludes `{rule.concept}`)"
    flags = [rec.urgency, f"imaging {rec.imaging}"]
    if rec.red_flag:
        flags.append("red flag")
    if rec.rating:
        flags.append(f"rates orders {rec.rating}")
    if rec.self_care:
        flags.append("self-care")
    return f"`{rid}` — {rule.title} ({', '.join(flags)}; `{kb.domains[rid]}`)"


def _example_line(ex: Example) -> str:
    exp = ex.expected
    bits = [f"urgency {exp['urgency'] or 'nothing'}" if "urgency" in exp else None]
    if exp.get("categories"):
        bits.append("concludes " + ", ".join(exp["categories"]))
    if exp.get("absent_categories"):
        bits.append("never " + ", ".join(exp["absent_categories"]))
    if "red_flag" in exp:
        bits.append("red flag" if exp["red_flag"] else "no red flag")
    if exp.get("self_care") is False:
        bits.append("no self-care")
    return f"`{ex.name}` — {exp.get('title', '')} ({'; '.join(b for b in bits if b)})"


def _judgement_decision(kb: Knowledge, j: Judgement) -> str:
    if j.parameter is None:
        return _one_line(j.decision or "")
    p = kb.parameters[j.parameter]
    unit = f" {p.unit}" if p.unit else ""
    return f"`{j.parameter}` = {p.value}{unit}: {_one_line(p.description)}"


def _status(j: Judgement) -> str:
    if j.status == "open":
        return "**open**"
    return f"{j.status} by {j.signed_off_by} on {j.date}"


def _judgements_for(
    kb: Knowledge, h: Hazard, rules: Sequence[str], judgements: Mapping[str, Judgement]
) -> list[Judgement]:
    params = set(parameters_used(kb, rules))
    ids = [j.id for j in judgements.values() if j.parameter in params]
    ids += [j for j in h.judgements if j not in ids]
    return [judgements[j] for j in ids]


def render_safety_case(
    kb: Knowledge, examples: Sequence[Example], checkout: Path | None = None
) -> str:
    """The safety case as Markdown (same knowledge, same bytes).

    ``checkout`` is the source tree whose ``tests/`` the named tests must exist in (None:
    not checked, e.g. from an installed wheel). Raises :class:`KnowledgeError` for any
    reference that does not resolve.
    """
    hazards, judgements = load_safety_data(kb)
    problems: list[str] = []
    names = {e.name for e in examples}
    sections: list[str] = []
    summary = ["| hazard | mitigating rules | examples | tests | open judgement calls |"]
    summary.append("|---|---|---|---|---|")
    cited: set[str] = set()
    for n, h in enumerate(hazards, 1):
        problems += [
            f"{HAZARDS_FILE}: {h.id}: unknown example {e!r}"
            for e in h.examples.ids
            if e not in names
        ]
        if checkout is not None:
            problems += [
                f"{HAZARDS_FILE}: {h.id}: test {t!r} not found under {checkout.name}/"
                for t in missing_tests(h.tests, checkout)
            ]
        rules = mitigating_rules(kb, h.rules)
        support = supporting_rules(kb, rules)
        caught = matching_examples(examples, h.examples)
        clean = not_over_examples(examples, h.examples)
        js = _judgements_for(kb, h, rules + support, judgements)
        cited |= {j.id for j in js}
        open_js = [j for j in js if j.status == "open"]
        summary.append(
            f"| [H{n} {h.title}](#h{n}) | {len(rules)} | {len(caught) + len(clean)} | "
            f"{len(h.tests)} | {len(open_js)} |"
        )
        out = [
            f'<a id="h{n}"></a>',
            f"## H{n}. {h.title} (`{h.id}`)",
            "",
            f"**Harm:** {_one_line(h.harm)}",
            "",
        ]
        out += ["**Mitigated by**", ""]
        out += [f"- rule {_rule_line(kb, r)}" for r in rules]
        out += [f"- supporting rule {_rule_line(kb, r)}" for r in support]
        out += [
            f"- policy `{p}` = `{getattr(kb.policy, p)}` (knowledge/policy.yaml)" for p in h.policy
        ]
        if not rules and not h.policy:
            out.append("- no rule: mitigated by input handling (see the tests)")
        out += ["", "**Proven by**", ""]
        out += [f"- example {_example_line(e)}" for e in caught]
        if clean:
            out.append(
                f"- not raised where it must not be ({len(clean)} examples): "
                + ", ".join(f"`{e.name}`" for e in clean)
            )
        if caught or clean:
            out.append(
                "- each example is checked by "
                "`tests/test_examples.py::test_example_matches_expectation`"
            )
        out += [f"- test `{t}`" for t in h.tests]
        if not (caught or clean or h.tests):
            out.append("- **GAP: nothing proves this mitigation**")
        out += ["", "**Judgement calls**", ""]
        out += [f"- `{j.id}` ({_status(j)}): {_judgement_decision(kb, j)}" for j in js]
        if not js:
            out.append("- none")
        sections += [*out, ""]
    if problems:
        raise KnowledgeError(problems)
    register = ["| judgement | decision | basis | alternative reading | status | hazards |"]
    register.append("|---|---|---|---|---|---|")
    hazard_of: dict[str, list[str]] = {}
    for n, h in enumerate(hazards, 1):
        rules = mitigating_rules(kb, h.rules)
        for j in _judgements_for(kb, h, rules + supporting_rules(kb, rules), judgements):
            hazard_of.setdefault(j.id, []).append(f"H{n}")
    for j in judgements.values():
        register.append(
            f"| `{j.id}` | {_judgement_decision(kb, j)} | {', '.join(j.basis) or '-'} | "
            f"{_one_line(j.alternative)} | {_status(j)} | "
            f"{', '.join(hazard_of.get(j.id, [])) or '-'} |"
        )
    unrecorded = [
        name
        for name, p in kb.parameters.items()
        if p.alternatives and name not in {j.parameter for j in judgements.values()}
    ]
    head = [
        "# Clinical safety case",
        "",
        f"Generated from `knowledge/` (version {kb.version}) by `cds-backpain knowledge "
        "safety-case`. Do not edit by hand; `tests/test_safety_case.py` checks it is current.",
        "Hazards and their mapping are data: `knowledge/hazards.yaml`; judgement calls: "
        "`knowledge/judgements.yaml`.",
        "",
        "Decision support for clinicians, not a diagnosis. Each hazard lists the rules that "
        "mitigate it (selected from the rule files by what they recommend), the bundled examples "
        "and tests that prove the mitigation, and the open judgement calls for the clinical owner.",
        "",
        *summary,
        "",
    ]
    tail = ["## Judgement calls", "", *register, ""]
    if unrecorded:
        tail += [
            "**Parameters with alternative readings not yet in `knowledge/judgements.yaml`:** "
            + ", ".join(f"`{p}`" for p in unrecorded),
            "",
        ]
    return "\n".join(head + sections + tail).rstrip() + "\n"
