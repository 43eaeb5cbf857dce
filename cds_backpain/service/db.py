"""The service's SQL database (feedback, issued cards, JWT replay cache) via SQLAlchemy.

Default: an embedded SQLite file; any SQLAlchemy URL works (PostgreSQL for several hosts).
SQLite runs in WAL mode with a busy timeout so several uvicorn workers can share it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

metadata = MetaData()


def open_database(url: str) -> Engine:
    """An engine for ``url`` with every table of the service created."""
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
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    if ":memory:" not in str(_record):
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
