"""The README and docs/ say what the checkout does: their commands, paths, snippets and
figures are checked here, so a doc that drifts from the code fails the suite."""

from __future__ import annotations

import doctest
import importlib.util
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cds_backpain import evaluate
from cds_backpain.cli import main as cli
from cds_backpain.examples import load_examples

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# rules.md and card-gallery.md are generated (and checked) elsewhere
PROSE = [README, *(d for d in DOCS if d.name not in ("rules.md", "card-gallery.md"))]
PROSE += [ROOT / "bench" / "README.md", ROOT / "fuzz" / "README.md", ROOT / "CHANGELOG.md"]


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def section(doc: str, heading: str) -> str:
    start = doc.index(f"\n## {heading}")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end > 0 else None]


def code_blocks(doc: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc, re.S)


# -- set-up ---------------------------------------------------------------------------


def test_the_readme_has_exactly_two_set_up_commands_and_ci_runs_the_second():
    blocks = code_blocks(section(text(README), "Set-up"), "sh")
    commands = [line for b in blocks for line in b.splitlines() if line.strip()]
    assert len(blocks) == 2 and len(commands) == 2, commands
    install, tests = commands
    assert install.endswith("cds-backpain examples")
    assert tests.endswith("-m pytest -q")
    ci = [line.strip() for line in text(ROOT / ".ci" / "run").splitlines()]
    assert tests in ci, "'.ci/run' must run the README's test command verbatim"


def test_every_extra_the_readme_names_exists_and_every_extra_is_explained():
    import tomllib

    extras = set(tomllib.loads(text(ROOT / "pyproject.toml"))["project"]["optional-dependencies"])
    table = section(text(README), "Set-up")
    named = set(re.findall(r"^\| `([a-z]+)` \|", table, re.M))
    assert named == extras


# -- snippets -------------------------------------------------------------------------


def test_the_readme_tour_runs_as_written(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    (block,) = [b for b in code_blocks(text(README), "python") if ">>>" in b]
    test = doctest.DocTestParser().get_doctest(block, {}, "README tour", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_batch_guide_output_is_what_the_batch_prints(tmp_path: Path):
    from cds_backpain.batch.commands import batch_command

    (block,) = [
        b
        for b in code_blocks(text(ROOT / "docs" / "batch.md"), "console")
        if "$ cds-backpain batch" in b
    ]
    command, *shown = block.strip().splitlines()
    args = shlex.split(command.removeprefix("$ cds-backpain batch "))
    args = [str(ROOT / a) if a.startswith("tests/") else a for a in args]
    args[args.index("--out") + 1] = str(tmp_path / "results")
    r = CliRunner().invoke(batch_command, [*args, "--no-progress", "--workers", "0"])
    assert r.exit_code == 0, r.output
    printed = r.stdout.splitlines()
    # the first line has the timing and the worker count; the last names the --out directory
    assert printed[0].split(" evaluated")[0] == shown[0].split(" evaluated")[0]
    assert printed[1:-1] == shown[1:-1]


# -- commands -------------------------------------------------------------------------


def _leaf_commands(group: click.Group, prefix: str = "cds-backpain") -> list[str]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _leaf_commands(command, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def test_the_readme_lists_every_command():
    listed = code_blocks(section(text(README), "Command line"), "sh")[0]
    missing = [c for c in _leaf_commands(cli) if not re.search(rf"^{c}\b", listed, re.M)]
    assert missing == []


def _invocations() -> list[tuple[str, str]]:
    """Every ``cds-backpain ...`` command line in a code block of the prose docs."""
    found = []
    for path in PROSE:
        for block in re.findall(r"```(?:sh|console)\n(.*?)```", text(path), re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.strip().removeprefix("$ ")
                m = re.search(r"(?:^|\s|/)cds-backpain (.*)", line)
                if m and not line.startswith("#"):
                    found.append((path.name, m.group(1).split("#")[0].strip()))
    return found


@pytest.mark.parametrize("doc,line", _invocations())
def test_every_documented_command_and_option_exists(doc: str, line: str):
    words = shlex.split(re.sub(r"\[([^\]]*)\]", r"\1", line).replace("|", " "))
    command: click.Command = cli
    ctx = click.Context(cli)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        name = words.pop(0)
        assert name in command.commands, f"{doc}: no command {name!r} in {line!r}"
        command = command.commands[name]
    options = {o for p in command.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
    options |= {"--help", "--version"}
    unknown = [
        w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in options
    ]
    assert unknown == [], f"{doc}: {line!r}"


def test_every_documented_python_module_exists():
    missing = []
    for path in PROSE:
        for module in set(re.findall(r"python -m ([a-z_][\w.]*)", text(path))):
            if module.split(".")[0] in ("venv", "pip", "build", "pytest", "doctest"):
                continue
            if importlib.util.find_spec(module) is None:
                missing.append((path.name, module))
    assert missing == []


# -- paths ----------------------------------------------------------------------------

_TOP = (
    "cds_backpain/",
    "knowledge/",
    "fhir_examples/",
    "tests/",
    "docs/",
    "bench/",
    "scripts/",
    "fuzz/",
    ".ci/",
)
_FILES = ("README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml")
#: paths the docs name that a command creates when it runs
_CREATED = {"fuzz/corpus", ".hypothesis/"}


def _named_paths(doc: str) -> set[str]:
    names = set(re.findall(r"`([^`\s]+)`", doc)) | set(re.findall(r"\]\(([^)#\s]+)\)", doc))
    # "... are in `notes/`": a folder the prose sends the reader to
    out = {f for f in re.findall(r"\bin `([\w.-]+(?:/[\w.-]+)*/)`", doc) if f not in _CREATED}
    for name in names:
        name = name.rstrip(".,:;)").removeprefix("./").removeprefix("../")
        if name.startswith(("http", "mailto")) or re.search(r"[*<>{}…]|NN|\.\.\.|X$", name):
            continue
        if (name.startswith(_TOP) or name in _FILES) and name not in _CREATED:
            out.add(name.split("::")[0])
    return out


@pytest.mark.parametrize("path", PROSE, ids=[p.name for p in PROSE])
def test_every_path_a_doc_names_exists(path: Path):
    doc = text(path)
    # a git-ignored output folder (bench/out/) is made by the command the doc shows
    ignored = [
        ln.strip().lstrip("/") for ln in text(ROOT / ".gitignore").splitlines() if ln.strip()
    ]
    missing = sorted(
        p
        for p in _named_paths(doc)
        if not (ROOT / p).exists() and not any(p.startswith(i) for i in ignored if i.endswith("/"))
    )
    relative = sorted(
        link
        for link in re.findall(r"\]\(([^)#\s]+)\)", doc)
        if not link.startswith(("http", "javascript:")) and not (path.parent / link).exists()
    )
    assert missing == [] and relative == []


@pytest.mark.parametrize("path", PROSE, ids=[p.name for p in PROSE])
def test_no_doc_points_outside_the_checkout(path: Path):
    doc = text(path)
    assert not re.findall(r"\.\./shared|/work/|/root/|/home/\w+|/tmp/pytest", doc)


# -- figures --------------------------------------------------------------------------


def test_the_readme_table_of_clinical_situations_matches_the_examples():
    by_number = {e.name[:2]: e for e in load_examples()}
    table = section(text(README), "Clinical situations covered")
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| ([\d, ]+) \|$", table, re.M)
    assert len(rows) >= 10
    for situation, pathway, numbers in rows:
        for n in (x.strip() for x in numbers.split(",")):
            ex = by_number[n]
            ev = evaluate(ex.path.read_bytes(), now=ex.now)
            if pathway.startswith("`"):
                assert pathway.strip("` ") in ev.categories, (situation, ex.name)
            else:
                assert pathway.strip() == "no red flag" and not ev.red_flags, ex.name


def test_the_qa_guide_coverage_sample_adds_up_to_the_examples():
    sample = re.search(
        r"^(\S+) \| (\d+) \(e\.g\. ([\w-]+)\) \| (\d+) \|", text(ROOT / "docs" / "qa.md"), re.M
    )
    assert sample
    assert int(sample.group(2)) + int(sample.group(4)) == len(load_examples()), (
        "update the sample row in docs/qa.md from 'cds-backpain knowledge coverage'"
    )


def test_the_operations_guide_lists_exactly_the_served_metrics():
    from prometheus_client import CollectorRegistry

    from cds_backpain.service.metrics import Metrics

    metrics = Metrics()
    assert isinstance(metrics.registry, CollectorRegistry)
    served = {m.name for m in metrics.registry.collect()}
    documented = set(
        re.findall(r"^\| `(cds_backpain_\w+)` \|", text(ROOT / "docs" / "operations.md"), re.M)
    )
    assert {d.removesuffix("_total") for d in documented} == served
