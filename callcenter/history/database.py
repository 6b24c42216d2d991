"""The history database connection: SQLite by default, PostgreSQL (psycopg 3) by URL.

Synchronous SQLAlchemy Core: every call here blocks, so the service runs them in a thread
pool, never on the reactor thread. The CLI uses it directly (the service may be stopped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from callcenter.history.tables import metadata

SQLITE_BUSY_TIMEOUT_MS = 15_000


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'history.sqlite3'}"


def normalized_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the driver we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class HistoryDatabase:
    def __init__(self, url: str) -> None:
        self.url = normalized_url(url)
        parsed = sa.make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"future": True}
        if self.dialect == "postgresql":
            options["pool_pre_ping"] = True
        self.engine: Engine = sa.create_engine(self.url, **options)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        """Create missing tables (idempotent; several processes may race to do it)."""
        metadata.create_all(self.engine, checkfirst=True)

    def begin(self) -> Any:
        """A transaction: ``with db.begin() as connection:`` commits on success."""
        return self.engine.begin()

    def connect(self) -> Connection:
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def identity(self) -> str:
        """Which database this is, whatever the credentials or driver options: the SQLite
        file's absolute path, or the server, port and database name."""
        url = sa.make_url(self.url)
        if self.dialect == "sqlite":
            return f"sqlite:{Path(url.database or ':memory:').resolve()}"
        return f"{self.dialect}://{url.host}:{url.port or ''}/{url.database}"

    def redacted_url(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the API read while the writer writes; a busy timeout lets two processes share
    one file; foreign keys keep attempts and legs tied to their call."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
