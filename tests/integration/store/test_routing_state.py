"""Agent transitions, waiting calls and persistence of the routing store on a real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.domain.routing import (
    Answer,
    CallReturned,
    CancelOffer,
    Decline,
    EndWrapUp,
    Hangup,
    Login,
    Logout,
    NoAnswer,
    Pause,
    Queue,
    Ready,
    RoutingConfigError,
    Status,
    Strategy,
    TransitionError,
)
from callcenter.store import keys
from callcenter.store.routing import Match, RoutingState, UnknownAgentError
from tests.integration.store.test_routing_kit import T0, agent, call, open_state, record, run, seat
from tests.support.redis_server import RedisServer

QUEUES = [Queue("support"), Queue("sales", strategy=Strategy.FEWEST_CALLS)]


async def _available(state: RoutingState, queue: str) -> list[tuple[str, float]]:
    rows: list[Any] = await state._link.client.zrange(
        keys.queue_available(queue), 0, -1, withscores=True
    )
    return [(str(m), float(s)) for m, s in rows]


@pytest_twisted.ensureDeferred
async def test_a_day_of_transitions_keeps_the_available_sets_in_step(
    redis_server: RedisServer,
) -> None:
    async def body(state: RoutingState) -> None:
        record0 = await state.put_agent(agent("a", {}, ["support", "sales"]), T0)
        assert record0.state.status is Status.OFFLINE
        await state.set_registered("a", T0 + 3600)
        assert await _available(state, "support") == []
        await state.apply("a", Login(), T0 + 1)
        assert await _available(state, "support") == [("a", T0 + 1)]  # idle since login
        assert await _available(state, "sales") == [("a", 0.0)]  # no calls taken
        await state.enqueue(call("c1", "sales", entered_at=T0 + 2))
        assert await state.match_call("c1", T0 + 3) == Match("a", "c1", "sales")
        assert await _available(state, "support") == []
        await state.apply("a", Answer("c1"), T0 + 4)
        assert await state.get_call("c1") is None  # answered: no longer waiting
        done = await state.apply("a", Hangup("c1", 10), T0 + 64)
        assert done.record.state.status is Status.WRAP_UP
        with pytest.raises(TransitionError) as refused:
            await state.apply("a", EndWrapUp(), T0 + 70)
        assert refused.value.error_id == "wrap-up-not-over"
        await state.apply("a", EndWrapUp(), T0 + 74)
        assert await _available(state, "support") == [("a", T0 + 64)]
        assert await _available(state, "sales") == [("a", 1.0)]
        rec = (await state.load_agents())["a"]
        assert (rec.stats.calls_taken, rec.stats.talk_seconds) == (1, 60.0)
        await state.apply("a", Pause("lunch"), T0 + 80)
        assert await _available(state, "support") == []
        await state.apply("a", Ready(), T0 + 90)
        await state.put_agent(agent("a", {}, ["support"]), T0 + 91)  # leaves sales
        assert await _available(state, "sales") == []
        assert await _available(state, "support") == [("a", T0 + 64)]
        await state.apply("a", Logout(), T0 + 99)
        assert await _available(state, "support") == []
        with pytest.raises(UnknownAgentError):
            await state.apply("nobody", Login(), T0)
        with pytest.raises(RoutingConfigError):
            await state.put_agent(agent("b", {}, ["nowhere"]), T0)
        assert await state.remove_agent("a")
        assert await state.load_agents() == {}

    await run(redis_server, QUEUES, body)


@pytest_twisted.ensureDeferred
async def test_rona_returns_the_call_to_the_head_and_pauses_the_agent(
    redis_server: RedisServer,
) -> None:
    async def body(state: RoutingState) -> None:
        await seat(
            state,
            [
                (agent("a"), record("a", idle_since=T0 - 60)),
                (agent("b"), record("b", idle_since=T0 - 30)),
            ],
        )
        await state.enqueue(call("first", entered_at=T0))
        assert await state.match_call("first", T0 + 1) == Match("a", "first", "support")
        await state.enqueue(call("later", entered_at=T0 + 5))
        assert await state.position("first") is None  # ringing: not queued
        assert await state.match_call("later", T0 + 6) == Match("b", "later", "support")
        await state.enqueue(call("last", entered_at=T0 + 7))
        done = await state.apply("a", NoAnswer("first"), T0 + 21)
        assert done.record.state.status is Status.PAUSED and done.record.state.reason == "no-answer"
        assert any(isinstance(e, CallReturned) for e in done.events)
        assert [c.call_id for c in await state.waiting("support")] == ["first", "last"]
        assert (await state.get_call("first")) == call("first", entered_at=T0)  # entered_at kept
        # b declines: its call goes back, marked, and b (available) is skipped for it
        await state.apply("b", Decline("later"), T0 + 22)
        assert [c.call_id for c in await state.waiting("support")] == ["first", "later", "last"]
        returned = await state.get_call("later")
        assert returned is not None and returned.declined == {"b": T0 + 22}
        assert await state.match_agent("b", T0 + 23) == Match("b", "first", "support")
        await state.apply("b", CancelOffer("first"), T0 + 24)  # caller hung up while ringing
        assert await state.remove("first") is not None
        assert await state.match_agent("b", T0 + 25) == Match("b", "last", "support")
        assert await state.position("later") == 1

    await run(redis_server, [Queue("support")], body)


@pytest_twisted.ensureDeferred
async def test_logout_while_ringing_requeues_and_abandon_is_not_requeued(
    redis_server: RedisServer,
) -> None:
    async def body(state: RoutingState) -> None:
        await seat(state, [(agent("a"), record("a"))])
        await state.enqueue(call("c1"))
        assert await state.match_call("c1", T0 + 1) is not None
        await state.apply("a", Logout(), T0 + 2)
        assert await state.position("c1") == 1
        await state.apply("a", Login(), T0 + 3)
        assert await state.match_agent("a", T0 + 4) == Match("a", "c1", "support")
        abandoned = await state.remove("c1")  # the caller hangs up while it rings
        assert abandoned is not None and abandoned.entered_at == T0
        await state.apply("a", NoAnswer("c1"), T0 + 20)  # the ring timer fires anyway
        assert await state.waiting("support") == []
        assert not await state.requeue_at_head("c1")
        assert await state.remove("c1") is None

    await run(redis_server, [Queue("support")], body)


@pytest_twisted.ensureDeferred
async def test_queue_order_priority_moves_and_explicit_requeue(redis_server: RedisServer) -> None:
    async def body(state: RoutingState) -> None:
        await state.enqueue(call("old", entered_at=T0))
        await state.enqueue(call("new", entered_at=T0 + 9))
        await state.enqueue(call("vip", priority=3, entered_at=T0 + 10))
        assert [c.call_id for c in await state.waiting("support")] == ["vip", "old", "new"]
        assert [await state.position(c) for c in ("vip", "old", "new")] == [1, 2, 3]
        await state.enqueue(call("old", "sales", entered_at=T0))  # overflow to sales
        assert [c.call_id for c in await state.waiting("support")] == ["vip", "new"]
        assert await state.position("old") == 1
        await seat(state, [(agent("s", {}, ["sales"]), record("s"))])
        assert await state.match_call("old", T0 + 30) is not None
        assert await state.requeue_at_head("old", declined_by="s", at=T0 + 31)
        back = await state.get_call("old")
        assert back is not None and back.declined == {"s": T0 + 31}
        assert await state.position("old") == 1

    await run(redis_server, QUEUES, body)


@pytest_twisted.ensureDeferred
async def test_agents_and_queues_survive_a_redis_restart(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link, state = await open_state(redis_server.url, QUEUES)
        await seat(
            state,
            [
                (agent("a", {"en": 5}, ["support"]), record("a", idle_since=T0 - 9)),
                (agent("b", {}, ["sales"]), record("b", Status.PAUSED, calls_taken=4)),
            ],
        )
        await state.enqueue(call("c1", entered_at=T0 - 1, skills={"fr": 2}))
        await state.enqueue(call("c2", "sales", priority=2))
        await state.enqueue(call("c3", "sales", entered_at=T0 - 5))
        before = await state.load_agents()
        await link.close()

        redis_server.start_again()

        link, state = await open_state(redis_server.url, QUEUES)
        assert await state.load_agents() == before
        assert [c.call_id for c in await state.waiting("sales")] == ["c2", "c3"]
        assert await state.get_call("c1") == call("c1", entered_at=T0 - 1, skills={"fr": 2})
        await state.apply("b", Ready(), T0 + 1)  # scripts reload by themselves (NOSCRIPT)
        assert await state.match_agent("b", T0 + 2) == Match("b", "c2", "sales")
        await link.close()

    await as_deferred(scenario())
