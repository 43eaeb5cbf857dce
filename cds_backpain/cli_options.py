"""Command-line option types and checks shared by every ``cds-backpain`` command.

Each check runs when the command starts, before any work, and fails as a click usage
error: one line on stderr and exit status 2 (see :class:`OneLineErrors`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click


def check_instant(value: str) -> str:
    """``value`` as a canonical UTC instant (``...Z``), or ValueError saying what is wrong.

    The range is the library's (:data:`cds_backpain.pipeline.EARLIEST` to ``LATEST``),
    checked here at start-up so that a command fails before any work.
    """
    from .pipeline import EARLIEST, LATEST, to_instant

    try:
        instant = to_instant(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{value!r} is not an ISO 8601 instant (e.g. 2026-06-01T12:00:00Z)"
        ) from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"{value!r} is outside {EARLIEST.year}-{LATEST.year - 1} "
            "(evaluation instants are checked at start-up)"
        )
    return instant.isoformat().replace("+00:00", "Z")


if TYPE_CHECKING:
    _StrParamType = click.ParamType[str]
else:  # older click (pyproject allows 8.1) has no subscriptable ParamType at runtime
    _StrParamType = click.ParamType


class InstantType(_StrParamType):
    """An ISO 8601 evaluation instant, normalised to ``YYYY-MM-DDTHH:MM:SSZ``."""

    name = "instant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_instant(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


INSTANT = InstantType()


def check_sqlite_exists(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (a report must not create one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise click.BadParameter(
            f"{url!r} is not a SQLAlchemy database URL", param_hint="--database"
        ) from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not Path(parsed.database).is_file():
        raise click.BadParameter(
            f"no feedback database at {parsed.database} (the service creates it on its first "
            "start; give the service's --database URL or --config)",
            param_hint="--database",
        )


class OneLineErrors(click.Group):
    """A group whose usage errors are one line on stderr (exit 2), without the usage text."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "cds-backpain"
            message = " ".join(exc.format_message().split())
            click.echo(f"{where}: error: {message}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)
