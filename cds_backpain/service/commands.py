"""``cds-backpain serve`` and ``cds-backpain feedback report`` (click commands).

The lead registers them in ``cds_backpain/cli.py``::

    main.add_command(serve_command)
    main.add_command(feedback_command)
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ..cli_options import INSTANT, check_instant, check_sqlite_exists
from .config import CONFIG_ENV, ConfigError, ServiceConfig, load_config


def _resolve(config_file: str | None, **overrides: Any) -> ServiceConfig:
    try:
        return load_config(config_file, overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _checked(config: ServiceConfig) -> ServiceConfig:
    """Start-up checks of what a config file may hold, and the demo's evaluation instant."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from ..examples import EXAMPLES_NOW

    try:
        make_url(config.database_url)
    except ArgumentError:
        raise click.UsageError(
            f"database_url {config.database_url!r} is not a SQLAlchemy URL"
        ) from None
    if config.now is None:
        if config.demo_enabled:  # the demo shows the examples as written (docs/integration.md)
            return config.model_copy(update={"now": EXAMPLES_NOW})
        return config
    try:
        return config.model_copy(update={"now": check_instant(config.now)})
    except ValueError as exc:
        raise click.UsageError(f"now: {exc}") from None


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8080).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Service configuration (YAML or JSON); see docs/integration.md.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (the rules engine serialises calls within a process).",
)
@click.option(
    "--trust",
    "trust_file",
    type=click.Path(exists=True, dir_okay=False),
    envvar="CDS_BACKPAIN_TRUST",
    help="Trust file of allowed CDS clients (issuers and keys).",
)
@click.option(
    "--public-url",
    default=None,
    help="Public base URL CDS clients call (JWT aud is checked against it); required "
    "unless --insecure-dev.",
)
@click.option(
    "--insecure-dev",
    is_flag=True,
    default=None,
    help="Development only: no JWT checks, http FHIR servers allowed, demo page on.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help=(
        "Allowed browser origin (repeatable, or a comma-separated list: "
        "'http://localhost:8080,http://127.0.0.1:8080'; '*' for any)."
    ),
)
@click.option(
    "--canonical-base",
    default=None,
    help="Canonical base of the URLs in the output (e.g. https://cds.example.org/fhir).",
)
@click.option("--max-body-bytes", type=int, default=None, help="Largest request body (413 above).")
@click.option(
    "--database",
    "database_url",
    default=None,
    help="SQLAlchemy URL of the feedback store (default: SQLite file in the working directory).",
)
@click.option(
    "--allow-http-fhir", is_flag=True, default=None, help="Accept http:// fhirServer values."
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Serve the demo page (default: only with --insecure-dev).",
)
@click.option(
    "--now",
    type=INSTANT,
    default=None,
    help="Fixed evaluation instant (demos and tests). Default: the time of each call; with "
    "the demo page on, the bundled examples' instant.",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxy addresses trusted for X-Forwarded-* headers (uvicorn).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this PEM certificate (chain).",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Private key of --ssl-certfile.",
)
def serve_command(config_file: str | None, forwarded_allow_ips: str | None, **options: Any) -> None:
    """Run the CDS Hooks service (discovery, three hooks, feedback) on uvicorn."""
    import uvicorn

    from .app import INSECURE_WARNING, load_trust
    from .logs import uvicorn_log_config
    from .metrics import MULTIPROC_ENV

    if not options["cors_origins"]:
        options["cors_origins"] = None
    config = _resolve(config_file, **options)
    config = _checked(config)
    try:
        load_trust(config)  # fail before binding the port
        check_database(config.database_url)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if config.insecure_dev:
        click.secho(f"WARNING: {INSECURE_WARNING}", fg="red", bold=True, err=True)
    os.environ[CONFIG_ENV] = config.to_env()
    if config.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # /metrics sums the workers' values, kept in files here (docs/operations.md)
        import atexit
        import shutil
        import tempfile

        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="cds-backpain-metrics-")
        atexit.register(shutil.rmtree, os.environ[MULTIPROC_ENV], True)
    uvicorn.run(
        "cds_backpain.service.app:app_from_env",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        log_level=config.log_level,
        log_config=uvicorn_log_config(config.log_level),
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        ssl_certfile=config.ssl_certfile,
        ssl_keyfile=config.ssl_keyfile,
    )


def check_database(url: str) -> None:
    """ConfigError naming the database and its message if it cannot be opened or written
    (a read-only file or directory, a full disk)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .db import check_writable, database_message, open_database

    try:
        engine = open_database(url)
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot open the database {url}: {database_message(exc)}") from None
    try:
        problem = check_writable(engine)
    finally:
        engine.dispose()
    if problem:
        raise ConfigError(f"the database {url} cannot be written: {problem}")


@click.group("feedback")
def feedback_command() -> None:
    """Clinician feedback on the service's cards."""


@feedback_command.command("report")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Service configuration (for its database URL).",
)
@click.option(
    "--database", "database_url", default=None, help="SQLAlchemy URL of the feedback store."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def feedback_report(config_file: str | None, database_url: str | None, as_json: bool) -> None:
    """Acceptance and override rates per rule."""
    from .db import open_database
    from .feedback import FeedbackStore

    config = _resolve(config_file, database_url=database_url)
    check_sqlite_exists(config.database_url)
    engine = open_database(config.database_url)
    try:
        rows = FeedbackStore(engine).report()
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"rules": [r.to_json() for r in rows]}, indent=2))
        return
    if not rows:
        click.echo("No cards issued and no feedback recorded yet.")
        return

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    width = max(len("rule"), *(len(r.rule) for r in rows))
    click.echo(
        f"{'rule':<{width}}  issued  feedback  accepted  overridden  changed  accept%  override%"
    )
    for r in rows:
        click.echo(
            f"{r.rule:<{width}}  {r.issued:>6}  {r.feedback:>8}  {r.accepted:>8}"
            f"  {r.overridden:>10}  {r.changed:>7}"
            f"  {pct(r.acceptance_rate):>7}  {pct(r.override_rate):>9}"
        )
        for reason, n in r.reasons.most_common(3):
            click.echo(f"{'':<{width}}    override reason: {reason} ({n})")
