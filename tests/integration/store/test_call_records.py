"""Call records and events against a real redis-server, through an outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.domain.calls import CallRecord, Outcome
from callcenter.store import keys
from callcenter.store.call_records import CallRecords, EventLog
from callcenter.store.link import RedisLink, RedisUnavailableError
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer


def _record(call_id: str, arrived: float) -> CallRecord:
    return CallRecord(
        call_id=call_id, caller="+441234", caller_name="", did="100", arrived_at=arrived
    )


async def _until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest_twisted.ensureDeferred
async def test_records_are_listed_newest_first_and_trimmed(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link = RedisLink(redis_server.url)
        await link.connect()
        records = CallRecords(link, keep=3)
        for n in range(5):
            records.save(_record(f"c{n}", 1000.0 + n))
        await link.drained()
        recent = await records.recent(10)
        assert [r["call_id"] for r in recent] == ["c4", "c3", "c2"]
        assert await records.get("c0") is None  # trimmed away with its index entry
        assert (await records.recent(10, before=1003.0))[0]["call_id"] == "c2"
        await link.close()

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_writes_during_an_outage_are_replayed_in_order(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link = RedisLink(redis_server.url)
        await link.connect()
        link.start_monitor(interval=0.1)
        records, events = CallRecords(link, keep=100), EventLog(link)
        record = _record("out-1", 1000.0)
        records.save(record)
        await link.drained()

        redis_server.stop()
        await _until(lambda: not link.healthy)
        record.enter_node("menu", "menu", 1001.0)
        records.save(record)
        events.append("ivr.node", "out-1", node="menu")
        record.hang_up("caller", "BYE", 1002.0, ivr_finished=False)
        records.save(record)
        assert link.pending >= 3
        try:
            await records.get("out-1")
            raise AssertionError("a read during the outage must fail clearly")
        except RedisUnavailableError as exc:
            assert "unavailable" in str(exc)

        redis_server.start_again()
        await _until(lambda: link.healthy and link.pending == 0)
        saved = await records.get("out-1")
        assert saved is not None
        assert saved["outcome"] == Outcome.ABANDONED  # the newest version won
        assert saved["end_node"] == "menu"
        entries: list[Any] = await link.client.xrange(keys.EVENTS)  # type: ignore[assignment]
        assert [e[1]["type"] for e in entries] == ["ivr.node"]
        await link.close()

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_unreachable_redis_at_start_is_a_clear_error() -> None:
    async def scenario() -> None:
        link = RedisLink(f"redis://:secret@127.0.0.1:{free_port()}/0")
        try:
            await link.connect()
            raise AssertionError("connect must fail")
        except RedisUnavailableError as exc:
            assert "cannot reach Redis at redis://***@127.0.0.1" in str(exc)
            assert "secret" not in str(exc)
        await link.client.aclose()

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_a_replayed_event_append_lands_once(redis_server: RedisServer) -> None:
    """The link replays a write whose reply was lost; the event must not appear twice."""

    async def scenario() -> None:
        link = RedisLink(redis_server.url)
        await link.connect()
        submitted: list[Any] = []
        link.submit = submitted.append  # type: ignore[method-assign,assignment]
        EventLog(link).append("ivr.node", "c9", node="menu")
        EventLog(link).append("ivr.node", "c9", node="hold")
        for write in [submitted[0], submitted[0], submitted[1]]:  # the first one replayed
            await write(link.client)
        entries: list[Any] = await link.client.xrange(keys.EVENTS)  # type: ignore[assignment]
        assert [e[1]["data"] for e in entries] == ['{"node":"menu"}', '{"node":"hold"}']
        assert len({e[1]["id"] for e in entries}) == 2
        await link.client.aclose()

    await as_deferred(scenario())
