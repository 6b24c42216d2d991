"""The live feed on a real Redis: pushed on events, on thresholds, coalesced, stale when lost."""

from __future__ import annotations

import asyncio
import json
import time

from callcenter.domain.routing import Queue, Status
from callcenter.domain.wallboard import Thresholds
from callcenter.store import keys
from tests.integration.agents.kit import in_task
from tests.integration.live.kit import Board, wallboard
from tests.integration.store.test_routing_kit import agent, call, record, seat
from tests.support.redis_server import RedisServer

QUEUES = [Queue("support"), Queue("sales")]


async def _event(board: Board, kind: str = "call.queued") -> None:
    """What the service appends on a state change (the feed only needs to see an entry)."""
    fields = {"id": f"e{time.time()}", "type": kind, "call_id": "", "at": repr(time.time()),
              "data": "{}"}  # fmt: skip
    await board.link.client.xadd(keys.EVENTS, fields)  # type: ignore[arg-type]


@in_task
async def test_a_queued_call_is_pushed_within_a_second_of_its_event(
    redis_server: RedisServer,
) -> None:
    async with wallboard(redis_server, QUEUES) as board:  # heartbeat 30 s: events only
        await seat(board.state, [(agent("ann"), record("ann"))])
        stream = await board.stream()
        try:
            first = await stream.next("snapshot")
            assert first.data["queues"]["support"]["waiting"] == 0
            assert first.data["agents"]["ann"]["status"] == "available"
            await asyncio.sleep(0.6)  # the feed is now idle, waiting for events
            entered = time.time()
            await board.state.enqueue(call("c1", entered_at=entered))
            await _event(board)
            update = await stream.next("update", timeout=5)
            assert update.at - entered < 1.0, update.at - entered
            row = update.data["queues"]["support"]
            assert (row["waiting"], row["oldest_entered_at"]) == (1, entered)
            assert list(update.data["queues"]) == ["support"]  # only what changed
            assert update.data["agents"] == {}
        finally:
            stream.close()


@in_task
async def test_a_tile_turns_red_on_time_with_no_event(redis_server: RedisServer) -> None:
    limits = {"support": Thresholds(5, 10, 1.0, 2.0)}
    async with wallboard(redis_server, QUEUES, thresholds=limits) as board:
        stream = await board.stream()
        try:
            await stream.next("snapshot")
            entered = time.time()
            await board.state.enqueue(call("c1", entered_at=entered))
            await _event(board)
            levels: list[tuple[str, float]] = []
            while not levels or levels[-1][0] != "red":
                update = await stream.next("update", timeout=5)
                row = update.data["queues"].get("support")
                if row is not None:
                    levels.append((row["level"], update.at - entered))
            assert [level for level, _ in levels] == ["ok", "amber", "red"], levels
            assert 1.0 <= levels[1][1] < 1.5 and 2.0 <= levels[2][1] < 2.5, levels
        finally:
            stream.close()


@in_task
async def test_a_burst_of_events_costs_a_few_reads(redis_server: RedisServer) -> None:
    async with wallboard(redis_server, QUEUES) as board:
        await seat(board.state, [(agent(f"a{n}"), record(f"a{n}", Status.OFFLINE))
                                 for n in range(20)])  # fmt: skip
        stream = await board.stream()
        try:
            await stream.next("snapshot")
            before = board.feed.refreshes
            for n in range(20):
                await board.state.store_record(record(f"a{n}", Status.AVAILABLE))
                await _event(board, "agent.state")
            changed: dict[str, object] = {}
            while len(changed) < 20:
                changed.update((await stream.next("update", timeout=5)).data["agents"])
            assert board.feed.refreshes - before <= 5
        finally:
            stream.close()


@in_task
async def test_losing_redis_marks_the_board_stale_until_it_is_back(
    redis_server: RedisServer,
) -> None:
    async with wallboard(redis_server, QUEUES, heartbeat=0.5) as board:
        stream = await board.stream()
        try:
            first = await stream.next("snapshot")
            redis_server.stop()
            stale = await stream.next("stale", timeout=10)
            assert stale.data["since"] == first.data["now"]  # figures from then, not live
            assert "Redis" in stale.data["reason"]
            code, body, _ = await board.request("/api/wallboard")
            assert (code, body["error_id"]) == (503, "service-unavailable")
            redis_server.start_again()
            again = await stream.next("snapshot", timeout=15)  # whole board, live again
            assert "support" in again.data["queues"]
        finally:
            stream.close()


@in_task
async def test_five_hundred_agents_and_two_hundred_queues_stay_cheap(
    redis_server: RedisServer,
) -> None:
    queues = [Queue(f"q{n:03}") for n in range(200)]
    async with wallboard(redis_server, queues) as board:
        await seat(
            board.state,
            [
                (agent(f"a{n:03}", queues=[f"q{n % 200:03}", f"q{(n + 7) % 200:03}"]),
                 record(f"a{n:03}", Status.AVAILABLE))
                for n in range(500)
            ],
        )  # fmt: skip
        stream = await board.stream()
        try:
            snapshot = await stream.next("snapshot")
            assert len(snapshot.data["agents"]) == 500 and len(snapshot.data["queues"]) == 200
            took = []
            for _ in range(5):
                started = time.perf_counter()
                fresh = await board.feed.read()
                took.append(time.perf_counter() - started)
            full = json.dumps(fresh.full(), separators=(",", ":"))
            await board.state.store_record(record("a042", Status.PAUSED))
            await board.state.enqueue(call("c1", "q042", entered_at=time.time()))
            await _event(board)
            update = await stream.next("update", timeout=5)
            assert set(update.data["agents"]) == {"a042"}
            assert set(update.data["queues"]) == {"q042", "q049"}  # a042 serves both
            print(
                f"\nwallboard 500 agents / 200 queues: board read+build best"
                f" {min(took) * 1000:.1f} ms; snapshot {snapshot.size / 1024:.0f} KiB"
                f" ({len(full) / 1024:.0f} KiB), update after 1 agent + 1 call"
                f" {update.size} bytes"
            )
            assert min(took) < 0.5  # ~30 ms on a quiet machine
            assert update.size < 4096
        finally:
            stream.close()
