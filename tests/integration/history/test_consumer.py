"""The history consumer group against a real redis-server and real databases: each event
written once across consumers, replays ignored, a dead consumer's events recovered, outages
of the database and of Redis survived with nothing lost."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest_twisted
import redis.asyncio as redis
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import reactor
from twisted.internet.task import deferLater

from callcenter.aio import as_deferred
from callcenter.domain.history import CallSummary
from callcenter.history.consumer import REJECTED, group_name
from callcenter.history.database import HistoryDatabase
from callcenter.history.service import HistoryService
from callcenter.history.tables import call_events, calls
from callcenter.store import keys
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer

T0 = 1_790_000_000.0
STEPS: list[tuple[float, str, dict[str, Any]]] = [
    (0, "call.arrived", {"caller": "+4420", "did": "100"}),
    (0.2, "call.answered", {"flow": "support.yaml"}),
    (2, "call.queued", {"queue": "billing", "priority": 0, "skills": {}}),
    (3, "call.offered", {"agent": "ann", "queue": "billing"}),
    (5, "call.connected", {"agent": "ann", "wait": 3.0}),
    (65, "call.ended", {"outcome": "completed", "by": "agent", "node": "billing"}),
]


def fields(call_id: str, step: int, event_id: str | None = None) -> dict[str, str]:
    dt, kind, data = STEPS[step]
    return {
        "id": event_id or f"{call_id}-{step}",
        "type": kind,
        "call_id": call_id,
        "at": repr(T0 + dt),
        "data": json.dumps(data),
    }


async def append(client: redis.Redis, call_ids: list[str]) -> int:
    n = 0
    for call_id in call_ids:
        for step in range(len(STEPS)):
            await client.xadd(keys.EVENTS, fields(call_id, step))  # type: ignore[arg-type]
            n += 1
    return n


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def on_redis(awaitable: Awaitable[Any]) -> Any:
    """A redis.asyncio call awaited from a Twisted coroutine."""
    return as_deferred(_await(awaitable))


def db_count(url: str, query: Any) -> int:
    db = HistoryDatabase(url)
    try:
        with db.connect() as connection:
            return int(connection.execute(query).scalar_one())
    except sa.exc.OperationalError:
        return -1
    finally:
        db.dispose()


def finished_calls(url: str) -> int:
    return db_count(url, sa.select(sa.func.count()).select_from(calls).where(calls.c.finalized))


def stored_events(url: str) -> int:
    return db_count(url, sa.select(sa.func.count()).select_from(call_events))


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        await deferLater(reactor, 0.1)


@asynccontextmanager
async def consuming(
    url: str,
    redis_url: str,
    finished: list[str] | None = None,
    claim_idle: float = 30.0,
    forget_idle: float = 3600.0,
) -> AsyncIterator[HistoryService]:
    service = HistoryService(
        HistoryDatabase(url), redis_url, reactor, uuid.uuid4().hex, claim_idle_seconds=claim_idle
    )
    service.consumer._max_backoff = 0.5  # quick retries in tests
    service.consumer._forget_idle_ms = int(forget_idle * 1000)

    def listener(_: Connection, summary: CallSummary) -> None:
        if finished is not None:
            finished.append(summary.call_id)

    service.writer.add_finished_listener(listener)
    await service.open()
    service.start_consuming()
    try:
        yield service
    finally:
        await service.close()


@asynccontextmanager
async def redis_client(server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await as_deferred(client.aclose())


@pytest_twisted.ensureDeferred
async def test_two_consumers_write_each_event_once(
    history_url: str, redis_server: RedisServer
) -> None:
    finished: list[str] = []
    ids = [f"c{n}" for n in range(30)]
    async with (
        redis_client(redis_server) as client,
        consuming(history_url, redis_server.url, finished) as one,
        consuming(history_url, redis_server.url, finished) as two,
    ):
        total = await as_deferred(append(client, ids))
        await eventually(lambda: finished_calls(history_url) == len(ids))
        await eventually(lambda: one.consumer.written + two.consumer.written == total)
        pending = await on_redis(client.xpending(keys.EVENTS, one.consumer.group))
    assert stored_events(history_url) == total
    assert sorted(finished) == sorted(ids)  # every call's end handled once, by one process
    assert one.consumer.written + two.consumer.written == total
    assert pending["pending"] == 0


@pytest_twisted.ensureDeferred
async def test_a_replayed_event_is_stored_once(history_url: str, redis_server: RedisServer) -> None:
    async with redis_client(redis_server) as client, consuming(history_url, redis_server.url):
        total = await as_deferred(append(client, ["c1"]))
        await on_redis(client.xadd(keys.EVENTS, fields("c1", 5)))  # type: ignore[arg-type]
        await eventually(lambda: stored_events(history_url) == total)
        await eventually(lambda: finished_calls(history_url) == 1)
        await deferLater(reactor, 0.5)
    assert stored_events(history_url) == total


@pytest_twisted.ensureDeferred
async def test_events_a_crashed_consumer_took_are_written_by_another(
    history_url: str, redis_server: RedisServer
) -> None:
    group = group_name(HistoryDatabase(history_url).identity)
    async with redis_client(redis_server) as client:
        await on_redis(client.xgroup_create(keys.EVENTS, group, id="0", mkstream=True))
        total = await as_deferred(append(client, ["c1", "c2"]))
        # A consumer that read everything then died before writing (no ack).
        taken = await on_redis(client.xreadgroup(group, "crashed", {keys.EVENTS: ">"}, count=100))
        assert len(taken[0][1]) == total
        async with consuming(history_url, redis_server.url, claim_idle=1.0, forget_idle=1.0) as s:
            await eventually(lambda: finished_calls(history_url) == 2)
            await eventually(lambda: stored_events(history_url) == total)
            # The crashed consumer, with nothing pending any more, leaves the group.
            deadline = time.monotonic() + 20
            names: list[str] = ["crashed"]
            while "crashed" in names and time.monotonic() < deadline:
                await deferLater(reactor, 0.2)
                consumers = await on_redis(client.xinfo_consumers(keys.EVENTS, group))
                names = [str(c["name"]) for c in consumers]
            assert names == [s.consumer.consumer]


@pytest_twisted.ensureDeferred
async def test_a_database_outage_loses_nothing(
    postgres_url: str, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    async with (
        redis_client(redis_server) as client,
        consuming(postgres_url, redis_server.url) as service,
    ):
        await as_deferred(append(client, ["c1"]))
        await eventually(lambda: finished_calls(postgres_url) == 1)
        postgres_server.stop()
        try:
            total = 6 + await as_deferred(append(client, ["c2", "c3"]))
            await eventually(lambda: service.consumer.failures > 0)
            assert not service.consumer.healthy
        finally:
            postgres_server.start()
        await eventually(lambda: finished_calls(postgres_url) == 3)
        await eventually(lambda: service.consumer.healthy)
    assert stored_events(postgres_url) == total


@pytest_twisted.ensureDeferred
async def test_a_redis_outage_loses_nothing(history_url: str, redis_server: RedisServer) -> None:
    async with consuming(history_url, redis_server.url) as service:
        async with redis_client(redis_server) as client:
            await as_deferred(append(client, ["c1"]))
        await eventually(lambda: finished_calls(history_url) == 1)
        redis_server.stop()
        await eventually(lambda: service.consumer.failures > 0)
        redis_server.start_again()
        async with redis_client(redis_server) as client:
            await as_deferred(append(client, ["c2"]))
        await eventually(lambda: finished_calls(history_url) == 2)
    assert stored_events(history_url) == 12


@pytest_twisted.ensureDeferred
async def test_processes_with_databases_of_their_own_each_get_every_event(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Two services on one Redis, each with its own SQLite file (the default): each database
    gets whole calls, none half of one."""
    urls = [f"sqlite:///{tmp_path / name}.sqlite3" for name in ("a", "b")]
    ids = [f"c{n}" for n in range(10)]
    async with (
        redis_client(redis_server) as client,
        consuming(urls[0], redis_server.url) as one,
        consuming(urls[1], redis_server.url) as two,
    ):
        assert one.consumer.group != two.consumer.group
        total = await as_deferred(append(client, ids))
        for url in urls:
            await eventually(lambda url=url: finished_calls(url) == len(ids))  # type: ignore[misc]
            assert stored_events(url) == total


@pytest_twisted.ensureDeferred
async def test_an_event_the_history_cannot_take_is_parked_and_the_rest_written(
    history_url: str, redis_server: RedisServer
) -> None:
    """A listener that always fails on one call (a bug, bad data) must not stop the history:
    after a few tries the batch is split, the other calls are written and the one event that
    fails alone waits in ``cc:history:rejected`` with its error."""

    def broken(_: Connection, summary: CallSummary) -> None:
        if summary.call_id == "bad":
            raise ValueError("cannot file a ticket for this call")

    async with (
        redis_client(redis_server) as client,
        consuming(history_url, redis_server.url) as service,
    ):
        service.writer.add_finished_listener(broken)
        service.consumer._linger = 0.0  # one batch with every call in it
        await as_deferred(append(client, ["good", "bad", "fine"]))
        await eventually(lambda: finished_calls(history_url) == 2)
        await eventually(lambda: service.consumer.written == 18)
        parked = await on_redis(client.xrange(REJECTED))
    assert [(f["call_id"], f["type"]) for _, f in parked] == [("bad", "call.ended")]
    assert "cannot file a ticket" in parked[0][1]["error"]
    assert stored_events(history_url) == 17  # all but the parked one
