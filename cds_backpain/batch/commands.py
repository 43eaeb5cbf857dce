"""``cds-backpain batch`` and ``cds-backpain synth``: population runs from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..cli_options import INSTANT

NOW_HELP = (
    "Evaluation instant (ISO 8601, e.g. 2026-06-01T12:00:00Z); default: now, "
    "or the instant recorded in --out when resuming."
)


@click.command("batch")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory: results.ndjson, summary.json, run.json.",
)
@click.option("--now", type=INSTANT, default=None, help=NOW_HELP)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes (default: one per CPU; 0: evaluate in this process).",
)
@click.option(
    "--engine", type=click.Choice(["durable", "reference"]), default=None, help="Rules engine."
)
@click.option("--full", is_flag=True, help="Store each whole evaluation (cards, FHIR bundle).")
@click.option("--retry-failed", is_flag=True, help="Re-evaluate patients that failed before.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--shard-mb",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Export megabytes grouped in memory at once.",
)
def batch_command(
    inputs: tuple[Path, ...],
    out: Path,
    now: str | None,
    workers: int | None,
    engine: str | None,
    full: bool,
    retry_failed: bool,
    no_progress: bool,
    shard_mb: int,
) -> None:
    """Evaluate every patient of a FHIR Bulk Data export (NDJSON files or directories).

    Writes one result per patient to OUT/results.ndjson and a summary (patients by
    urgency and category, failures with their OperationOutcome) to OUT/summary.json.
    Re-running with the same --out skips patients already done.

    Exit status: 0 done; 1 the run could not start or stopped (an input file that cannot
    be read is named); 3 done, but some input lines could not be read (broken lines,
    truncated files: listed, and the affected patients' records are marked incomplete).
    """
    from .._errors import KnowledgeError
    from .runner import BatchError, run_batch

    _check_exports(inputs)
    try:
        report = run_batch(
            inputs,
            out,
            now=now,
            workers=workers,
            engine=engine,
            full=full,
            retry_failed=retry_failed,
            progress=not no_progress,
            shard_bytes=shard_mb * 1024 * 1024,
        )
    except (BatchError, KnowledgeError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the output cannot be written (disk full, permissions)
        where = exc.filename or out
        raise click.ClickException(f"{where}: {exc.strerror or exc}") from None
    click.echo(report.text())
    if report.summary.get("patients", 0) == 0:
        click.echo("no patients found in the input", err=True)
        sys.exit(1)
    if not report.complete:
        click.echo(
            "the input could not be read whole: results marked incomplete (exit status 3)",
            err=True,
        )
        sys.exit(3)


def _check_exports(inputs: tuple[Path, ...]) -> None:
    """Refuse, before any work, an input that is not a Bulk Data export (say what is)."""
    from .ndjson import InputFileError, find_inputs

    try:
        _check_export_kinds(inputs, find_inputs)
    except InputFileError as exc:  # a FIFO, dangling link, ... named *.ndjson
        raise click.ClickException(str(exc)) from None


def _check_export_kinds(inputs: tuple[Path, ...], find_inputs: Any) -> None:
    for path in inputs:
        if path.is_file() and not path.name.endswith((".ndjson", ".ndjson.gz")):
            raise click.BadParameter(
                f"{path} is not a FHIR Bulk Data export: expected NDJSON files (*.ndjson or "
                "*.ndjson.gz, one resource per line) or directories of them; for one "
                f"patient's Bundle or resource use 'cds-backpain evaluate {path}'",
                param_hint="INPUTS",
            )
        if path.is_dir() and not find_inputs([path]):
            raise click.BadParameter(
                f"{path} holds no *.ndjson or *.ndjson.gz files (a FHIR Bulk Data export)",
                param_hint="INPUTS",
            )


@click.command("synth")
@click.option("--patients", type=click.IntRange(min=1), required=True, help="Number of patients.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the NDJSON files.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--now",
    type=INSTANT,
    default="2026-06-01T12:00:00Z",
    show_default=True,
    help="The instant the population's dates are relative to.",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    help="Only these profiles, in turn (repeatable; e.g. cauda_equina). Default: the mix.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def synth_command(
    patients: int, out: Path, seed: int, now: str, profiles: tuple[str, ...], no_progress: bool
) -> None:
    """Write a synthetic population as a FHIR Bulk Data export (seeded, reproducible)."""
    from tqdm import tqdm

    from .synth import write_population

    try:
        with tqdm(total=patients, unit="patient", disable=no_progress) as bar:
            counts = write_population(
                out, patients, seed=seed, now=now, profiles=profiles or None, progress=bar.update
            )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--profile") from None
    click.echo(json.dumps({"out": str(out), "patients": patients, "resources": counts}))
