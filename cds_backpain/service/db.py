"""The service's SQL database (feedback, issued cards, JWT replay cache) via SQLAlchemy.

Default: an embedded SQLite file; any SQLAlchemy URL works (PostgreSQL for several hosts).
SQLite runs in WAL mode with a busy timeout so several uvicorn workers can share it.

A database that cannot be written (disk full, read-only file or directory, locked) makes
the request that needs it answer 503 with an OperationOutcome; the database's own message
goes to the log (never the statement or its parameters). :func:`check_writable` finds a
read-only database at start-up.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, create_engine, delete, event, insert, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from .errors import ServiceError

log = logging.getLogger("cds_backpain.service.db")

metadata = MetaData()


class DatabaseUnavailable(ServiceError):
    """The database refused a read or write the request needs (answered 503)."""


def database_message(exc: BaseException) -> str:
    """The database's own message (``database or disk is full``), without the SQL."""
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    return f"{type(source).__name__}: {source}"


@contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Turn a database failure while ``action`` into a logged 503."""
    try:
        yield
    except IntegrityError:
        raise
    except (OperationalError, DBAPIError, SQLAlchemyError) as exc:
        log.error(
            "database error",
            extra={"event": "db_error", "db_error": database_message(exc), "reason": action},
        )
        raise DatabaseUnavailable.simple(
            503, f"the service's database is unavailable ({action}); try again later"
        ) from None


def open_database(url: str) -> Engine:
    """An engine for ``url`` with every table of the service created (and columns added
    since the database was made)."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    # Workers start together: creating tables can race on SQLite; retry briefly.
    for attempt in range(5):
        try:
            metadata.create_all(engine, checkfirst=True)
            _add_missing_columns(engine)
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Nullable columns added to a table after it was created (a small forward migration)."""
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def check_writable(engine: Engine) -> str | None:
    """None if the database accepts a write, else the database's message (a read-only
    file or directory, a full disk)."""
    from .auth import replay_table

    try:
        with engine.begin() as conn:
            conn.execute(insert(replay_table).values(key="startup-write-probe", expires_at=0.0))
            conn.execute(delete(replay_table).where(replay_table.c.key == "startup-write-probe"))
    except IntegrityError:
        return None  # another worker's probe: the database is writable
    except SQLAlchemyError as exc:
        return database_message(exc)
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        if ":memory:" not in str(_record):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError:
        pass  # a read-only database: check_writable reports it
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
