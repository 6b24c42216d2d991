"""History databases for tests: a SQLite file and a real PostgreSQL (one server per session,
a fresh database per test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import PostgresServer, running_postgres, unavailable_reason

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with running_postgres() as server:
        yield server


def _fresh_postgres_database(server: PostgresServer) -> str:
    name = f"history_{next(_databases)}"
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty history database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return _fresh_postgres_database(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return _fresh_postgres_database(postgres_server)
