"""``cds-backpain knowledge export | diff | impact | safety-case``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._errors import KnowledgeError

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

DEFAULT_SAFETY_CASE = Path("docs/safety-case.md")


def _load(root: Path | None = None) -> Knowledge:
    from ..kb.loader import load_knowledge

    try:
        return load_knowledge(root)
    except KnowledgeError as exc:
        where = f" at {root}" if root is not None else ""
        raise click.ClickException(
            f"knowledge{where} does not load:\n  - " + "\n  - ".join(exc.problems)
        ) from None


@click.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write package/ (package.json, .index.json, one file per resource) into.",
)
@click.option("--tgz", is_flag=True, help="Also write the package as <name>-<version>.tgz.")
@click.option(
    "--knowledge",
    "root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Knowledge directory (default: the installed knowledge/).",
)
def export_command(out: Path, tgz: bool, root: Path | None) -> None:
    """Write the knowledge base as a FHIR NPM package of Clinical Reasoning artifacts."""
    from .fhir_package import write_package

    kb = _load(root)
    written = write_package(kb, out, tgz=tgz)
    click.echo(f"wrote {len(written)} files to {out} (knowledge {kb.version}, sha256:{kb.digest})")


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON instead of Markdown.")
def diff_command(old: Path, new: Path, as_json: bool) -> None:
    """List what changed between two knowledge directories OLD and NEW."""
    from .diff import knowledge_diff, render_diff

    diff = knowledge_diff(_load(old), _load(new))
    click.echo(
        json.dumps(diff, indent=2, ensure_ascii=False) if as_json else render_diff(diff), nl=as_json
    )


@click.command("impact")
@click.argument("old", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--population",
    "population",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A FHIR Bulk Data export (NDJSON files or a directory); repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the two batch runs here (old/, new/) and write impact.md and impact.json.",
)
@click.option("--now", default=None, help="Evaluation instant for both runs; default: now.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Worker processes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of Markdown.")
def impact_command(
    old: Path,
    new: Path,
    population: tuple[Path, ...],
    out: Path | None,
    now: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Evaluate a population with OLD and NEW knowledge; report whose results change.

    Exit status 3 when any patient loses a red flag.
    """
    from ..batch.runner import BatchError
    from .impact import render_impact, run_impact

    _load(old), _load(new)
    try:
        report = run_impact(old, new, population, now=now, work=out, workers=workers)
    except (BatchError, KnowledgeError) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    text = render_impact(report)
    data = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if out is not None:
        (out / "impact.md").write_text(text, encoding="utf-8")
        (out / "impact.json").write_text(data, encoding="utf-8")
    click.echo(data if as_json else text, nl=False)
    if report["alerts"]:
        sys.exit(3)


@click.command("safety-case")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_SAFETY_CASE,
    show_default=True,
    help="Where to write the safety case.",
)
@click.option("--check", is_flag=True, help="Exit 1 if --out differs from the generated text.")
@click.option(
    "--checkout",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Source tree whose tests/ the named tests must exist in (not checked without tests/).",
)
def safety_case_command(out: Path, check: bool, checkout: Path) -> None:
    """Generate the clinical safety case (docs/safety-case.md) from knowledge/."""
    from ..examples import load_examples
    from .safety_case import render_safety_case

    try:
        tests = checkout if (checkout / "tests").is_dir() else None  # e.g. an installed wheel
        text = render_safety_case(_load(), load_examples(), tests)
    except KnowledgeError as exc:
        raise click.ClickException("safety case:\n  - " + "\n  - ".join(exc.problems)) from None
    if check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            click.echo(
                f"{out} is not current: run 'cds-backpain knowledge safety-case --out {out}'"
            )
            sys.exit(1)
        click.echo(f"{out} is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


COMMANDS = (export_command, diff_command, impact_command, safety_case_command)
