"""The history tests' database fixtures (SQLite file, real PostgreSQL) for the outbox."""

from tests.integration.history.conftest import history_url, postgres_server

__all__ = ["history_url", "postgres_server"]
