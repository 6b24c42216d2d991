"""Fixtures available to every test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, running_redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real, empty redis-server for this test only."""
    with running_redis(tmp_path / "redis") as server:
        yield server
