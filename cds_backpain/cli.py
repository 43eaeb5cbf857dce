"""The ``cds-backpain`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ._errors import InvalidInputError, KnowledgeError
from .cli_options import INSTANT, OneLineErrors

NOW_HELP = "Evaluation instant (ISO 8601, e.g. 2026-06-01T12:00:00Z); default: now."


def _dump(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


@click.group(cls=OneLineErrors)
@click.version_option(package_name="cds-backpain")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Clinical decision support for low back pain in runners (FHIR R4 in, CDS Hooks cards out)."""
    # The one place the command line reads the environment (CDS_BACKPAIN_ENGINE,
    # _KNOWLEDGE, _CANONICAL_BASE, _VALIDATE_OUTPUT): in force while the command runs.
    from .settings import Settings, applied

    ctx.with_resource(applied(Settings.from_env()))


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--now", type=INSTANT, default=None, help=NOW_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "cards", "fhir"]),
    default="json",
    help="json: the whole evaluation; cards: the CDS Hooks cards; fhir: the FHIR Bundle.",
)
@click.option(
    "--engine", type=click.Choice(["durable", "reference"]), default=None, help="Rules engine."
)
def evaluate(path: Path, now: str | None, fmt: str, engine: str | None) -> None:
    """Evaluate one patient's FHIR R4 data (Bundle, resource or JSON array) at PATH."""
    from .pipeline import evaluate as run

    try:
        ev = run(path.read_bytes(), now=now, engine=engine)
    except InvalidInputError as exc:
        click.echo(_dump(exc.outcome))
        sys.exit(2)
    if fmt == "cards":
        click.echo(_dump({"cards": list(ev.cards)}))
    elif fmt == "fhir":
        click.echo(_dump(ev.bundle))
    else:
        click.echo(_dump(ev.to_json()))


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Examples directory (default: the bundled fhir_examples).",
)
@click.option(
    "--now",
    type=INSTANT,
    default=None,
    help="Evaluate every example at this instant instead of its own (expect mismatches: "
    "ages, symptom durations and course lengths are counted back from it).",
)
@click.option("--engine", type=click.Choice(["durable", "reference"]), default=None)
@click.option(
    "--gallery",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the card gallery (Markdown) of the gallery examples here and stop.",
)
def examples(
    directory: Path | None, now: str | None, engine: str | None, gallery: Path | None
) -> None:
    """Evaluate the bundled clinical examples and compare each with its expected outcome."""
    from .examples import load_examples, mismatches
    from .reports.gallery import render_gallery

    if gallery is not None:
        gallery.write_text(render_gallery(load_examples(directory)), encoding="utf-8")
        click.echo(f"wrote {gallery}")
        return
    from .pipeline import evaluate as run

    failed = 0
    rows = load_examples(directory)
    for ex in rows:
        try:
            ev = run(ex.path.read_bytes(), now=now or ex.now, engine=engine)
        except InvalidInputError as exc:
            failed += 1
            click.echo(f"FAIL {ex.name}: invalid input: {exc}")
            continue
        problems = mismatches(ex, ev) if ex.expected else []
        failed += bool(problems)
        mark = "ok  " if not problems else "FAIL"
        head = f"{ev.urgency or '-':9} {ev.imaging:10}"
        summaries = "; ".join(c.summary for c in ev.conclusions[:2]) or "no recommendation"
        click.echo(f"{mark} {ex.name:45} {head} {summaries}")
        for p in problems:
            click.echo(f"       - {p}")
    click.echo(
        f"{len(rows) - failed} of {len(rows)} examples as expected (engine: {engine or 'default'})"
    )
    sys.exit(1 if failed else 0)


@main.group()
def knowledge() -> None:
    """Inspect and verify the knowledge base."""


@knowledge.command()
def verify() -> None:
    """Load and verify knowledge/: schemas, value sets, quotes, digests, engine limits."""
    from .kb.loader import load_knowledge
    from .kb.provenance import verify_span
    from .vocabulary import SUPPORTS

    try:
        kb = load_knowledge()
    except KnowledgeError as exc:
        click.echo(f"knowledge verification FAILED ({len(exc.problems)} problems):")
        for p in exc.problems:
            click.echo(f"  - {p}")
        sys.exit(1)
    root = Path(kb.root)
    spans = [s for ss in kb.spans.values() for s in ss]
    bad = [s for s in spans if not verify_span(s, (root / "sources" / s.source).read_bytes())]
    if bad:
        click.echo(f"knowledge verification FAILED: {len(bad)} spans do not resolve")
        sys.exit(1)
    recs = [r for r in kb.rules.values() if r.recommend]
    click.echo(f"knowledge {kb.version} at {root}")
    click.echo(f"  digest            {kb.digest}")
    click.echo(f"  source documents  {len(kb.sources)} (sha256 verified)")
    click.echo(f"  quotes            {len(spans)} resolved to offsets and re-checked")
    click.echo(f"  guidelines        {len(kb.guidelines)}")
    click.echo(f"  parameters        {len(kb.parameters)}")
    click.echo(f"  value sets        {len(kb.valuesets.concepts)} concepts")
    click.echo(
        f"  rules             {len(kb.rules)} ({len(recs)} recommendations, "
        f"{sum(1 for r in recs if r.recommend and r.recommend.red_flag)} red flags)"
    )
    items = [ref for r in kb.rules.values() for ref in r.provenance]
    tally = ", ".join(f"{k} {sum(k in i.supports for i in items)}" for k in SUPPORTS)
    click.echo(f"  provenance        {len(items)} items ({tally})")
    click.echo(
        f"  supported         urgency and imaging of all {len(recs)} recommendations "
        "by their own provenance"
    )
    click.echo(
        f"  card links        {len({g.url for g in kb.guidelines.values()})} guideline URLs "
        "on the links.yaml allowlist; no internal notes in card text"
    )
    click.echo(f"  compiled digest   {kb.compiled.digest}")
    click.echo("knowledge verified")


@knowledge.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the catalog here (default: stdout).",
)
@click.option("--check", is_flag=True, help="Exit 1 if --out differs from the generated catalog.")
def catalog(out: Path | None, check: bool) -> None:
    """Generate the rule catalog (docs/rules.md) from knowledge/."""
    from .kb.loader import load_knowledge
    from .reports.catalog import render_catalog

    text = render_catalog(load_knowledge())
    if check:
        if out is None or not out.is_file() or out.read_text(encoding="utf-8") != text:
            click.echo(f"{out} is not current: run 'cds-backpain knowledge catalog --out {out}'")
            sys.exit(1)
        click.echo(f"{out} is current")
    elif out is not None:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)


@knowledge.command()
def coverage() -> None:
    """Show which examples fire each rule, and that removing its evidence silences it."""
    from .kb.loader import load_knowledge
    from .reports.coverage import coverage as run
    from .reports.coverage import render_coverage

    rows = run(load_knowledge())
    click.echo(render_coverage(rows))
    sys.exit(0 if all(r.ok for r in rows) else 1)


def _register_commands() -> None:
    from .batch.commands import batch_command, synth_command
    from .publish.commands import COMMANDS as KNOWLEDGE_COMMANDS
    from .service.commands import feedback_command, serve_command

    main.add_command(serve_command, "serve")
    main.add_command(feedback_command, "feedback")
    main.add_command(batch_command, "batch")
    main.add_command(synth_command, "synth")
    for command in KNOWLEDGE_COMMANDS:
        knowledge.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
