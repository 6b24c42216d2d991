"""The live snapshot read from a real Redis: what routing holds, and fast at a large size."""

from __future__ import annotations

import time

from callcenter.domain.routing import Queue, Status
from callcenter.live.snapshot import LiveReader
from tests.integration.agents.kit import in_task
from tests.integration.store.test_routing_kit import T0, agent, call, open_state, record, seat
from tests.support.redis_server import RedisServer


@in_task
async def test_the_snapshot_shows_queues_and_agents_as_routing_holds_them(
    redis_server: RedisServer,
) -> None:
    link, state = await open_state(redis_server.url, [Queue("support"), Queue("sales")])
    try:
        await seat(
            state,
            [
                (agent("ann"), record("ann")),
                (agent("bob"), record("bob", Status.ON_CALL, since=T0 + 3)),
                (agent("cat", queues=["support", "sales"]), record("cat", Status.PAUSED)),
                (agent("dan", queues=["sales"]), record("dan", Status.OFFLINE)),
            ],
        )
        await state.enqueue(call("c1", entered_at=T0 + 10))
        await state.enqueue(call("c2", priority=5, entered_at=T0 + 20))
        snapshot = await LiveReader(link, state).read(T0 + 50)
        support, sales = snapshot.queues["support"], snapshot.queues["sales"]
        assert (support.waiting, support.longest_wait(T0 + 50)) == (2, 40)
        assert (support.members, support.available, support.busy, support.paused) == (3, 1, 1, 1)
        assert (sales.waiting, sales.members, sales.staffed, sales.available) == (0, 2, 1, 0)
        assert list(snapshot.agents) == ["ann", "bob", "cat", "dan"]
        bob = snapshot.agents["bob"]
        assert (bob.status, bob.since, bob.call_id, bob.queue) == (
            Status.ON_CALL, T0 + 3, "x", "support",
        )  # fmt: skip
        assert snapshot.agents["cat"].reason == "lunch"
    finally:
        await link.close()


@in_task
async def test_five_hundred_agents_and_two_hundred_queues_read_in_a_blink(
    redis_server: RedisServer,
) -> None:
    queues = [Queue(f"q{n:03}") for n in range(200)]
    link, state = await open_state(redis_server.url, queues)
    try:
        statuses = [Status.AVAILABLE, Status.ON_CALL, Status.PAUSED, Status.WRAP_UP]
        await seat(
            state,
            [
                (
                    agent(f"a{n:03}", queues=[f"q{n % 200:03}", f"q{(n + 1) % 200:03}"]),
                    record(f"a{n:03}", statuses[n % 4]),
                )
                for n in range(500)
            ],
        )
        for n in range(400):
            await state.enqueue(call(f"c{n}", f"q{n % 200:03}", entered_at=T0 + n))
        reader = LiveReader(link, state)
        took = []
        for _ in range(5):
            started = time.perf_counter()
            snapshot = await reader.read(T0 + 500)
            took.append(time.perf_counter() - started)
        assert len(snapshot.agents) == 500 and len(snapshot.queues) == 200
        assert sum(q.waiting for q in snapshot.queues.values()) == 400
        print(f"live snapshot, 500 agents / 200 queues: best {min(took) * 1000:.1f} ms")
        assert min(took) < 0.5  # generous: ~40 ms on a quiet machine
    finally:
        await link.close()
