"""``python -m cds_backpain.service serve|feedback`` (the same commands as the main CLI)."""

from __future__ import annotations

import click

from ..cli_options import OneLineErrors
from .commands import feedback_command, serve_command


@click.group(cls=OneLineErrors)
def main() -> None:
    """cds-backpain CDS Hooks service."""


main.add_command(serve_command)
main.add_command(feedback_command)

if __name__ == "__main__":
    main()
