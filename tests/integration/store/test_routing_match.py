"""The Lua match scripts against the Python reference policy, on a real redis-server."""

from __future__ import annotations

import pytest
import pytest_twisted

from callcenter.domain.routing import (
    Answer,
    EscalationStep,
    Hangup,
    Queue,
    Ready,
    Status,
    Strategy,
)
from callcenter.store.routing import Match, RoutingState
from tests.integration.store.test_routing_kit import T0, agent, call, record, run, seat
from tests.support.redis_server import RedisServer

#: One winner per strategy: a idles longest, b is most skilled, c was never offered a call,
#: d took fewest calls, e talked least.
FLOOR = [
    ("a", 2, dict(idle_since=T0 - 100, calls_taken=5, talk_seconds=500, offered_in={"q": T0 - 50})),
    ("b", 9, dict(idle_since=T0 - 50, calls_taken=4, talk_seconds=400, offered_in={"q": T0 - 40})),
    ("c", 3, dict(idle_since=T0 - 40, calls_taken=3, talk_seconds=300, offered_in={})),
    ("d", 4, dict(idle_since=T0 - 30, calls_taken=0, talk_seconds=200, offered_in={"q": T0 - 30})),
    ("e", 5, dict(idle_since=T0 - 20, calls_taken=2, talk_seconds=10, offered_in={"q": T0 - 20})),
]
WINNER = {
    Strategy.LONGEST_IDLE: "a",
    Strategy.MOST_SKILLED: "b",
    Strategy.ROUND_ROBIN: "c",
    Strategy.FEWEST_CALLS: "d",
    Strategy.LEAST_TALK_TIME: "e",
}


async def _floor(state: RoutingState, queues: tuple[str, ...] = ("q",)) -> None:
    await seat(
        state,
        [
            (agent(i, {"en": level}, queues), record(i, **stats))  # type: ignore[arg-type]
            for i, level, stats in FLOOR
        ],
    )


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest_twisted.ensureDeferred
async def test_each_strategy_picks_its_agent_like_the_reference(
    redis_server: RedisServer, strategy: Strategy
) -> None:
    queue = Queue("q", {"en": 1}, strategy)

    async def body(state: RoutingState) -> None:
        await _floor(state)
        waiting = call("c1", "q", entered_at=T0 + 1)
        await state.enqueue(waiting)
        view = await state.call_view("c1", T0 + 2)
        assert view is not None
        assert view.decide(T0 + 2).agent_id == WINNER[strategy]
        assert await state.match_call("c1", T0 + 2) == Match(WINNER[strategy], "c1", "q")
        rec = (await state.load_agents())[WINNER[strategy]]
        assert rec.state.status is Status.RESERVED and rec.state.call_id == "c1"
        assert rec.stats.offered_in("q") == T0 + 2
        assert await state.waiting("q") == []
        assert await state.match_call("c1", T0 + 2) is None  # claimed once only

    await run(redis_server, [queue], body)


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest_twisted.ensureDeferred
async def test_ties_fall_to_idle_time_then_agent_id(
    redis_server: RedisServer, strategy: Strategy
) -> None:
    async def body(state: RoutingState) -> None:
        same = dict(calls_taken=1, talk_seconds=5.0, offered_in={"q": T0 - 9})
        await seat(
            state,
            [
                (agent("z", {"en": 5}, ["q"]), record("z", idle_since=T0 - 60, **same)),  # type: ignore[arg-type]
                (agent("y", {"en": 5}, ["q"]), record("y", idle_since=T0 - 30, **same)),  # type: ignore[arg-type]
                (agent("x", {"en": 5}, ["q"]), record("x", idle_since=T0 - 30, **same)),  # type: ignore[arg-type]
            ],
        )
        await state.enqueue(call("c1", "q"))
        await state.enqueue(call("c2", "q", entered_at=T0 + 0.5))
        first = await state.match_call("c1", T0 + 1)
        second = await state.match_call("c2", T0 + 1)
        assert first is not None and second is not None
        assert (first.agent_id, second.agent_id) == ("z", "x")

    await run(redis_server, [Queue("q", {"en": 2}, strategy)], body)


@pytest_twisted.ensureDeferred
async def test_most_skilled_counts_the_callers_ivr_skills(redis_server: RedisServer) -> None:
    async def body(state: RoutingState) -> None:
        await seat(
            state,
            [
                (agent("a", {"en": 9, "fr": 1}, ["q"]), record("a", idle_since=T0 - 50)),
                (agent("b", {"en": 6, "fr": 6}, ["q"]), record("b", idle_since=T0 - 10)),
            ],
        )
        await state.enqueue(call("plain", "q"))
        await state.enqueue(call("french", "q", entered_at=T0 + 1, skills={"fr": 1}))
        # a ranks first on the queue's own skill (9 > 6) but b has more of en + fr (12 > 10)
        assert await state.match_call("french", T0 + 2) == Match("b", "french", "q")
        assert await state.match_call("plain", T0 + 2) == Match("a", "plain", "q")

    await run(redis_server, [Queue("q", {"en": 1}, Strategy.MOST_SKILLED)], body)


@pytest_twisted.ensureDeferred
async def test_freed_agent_takes_priority_then_weighted_wait_across_queues(
    redis_server: RedisServer,
) -> None:
    queues = [Queue("slow", weight=1.0), Queue("vip", weight=3.0)]

    async def body(state: RoutingState) -> None:
        await seat(state, [(agent("a", {}, ["slow", "vip"]), record("a", Status.PAUSED))])
        now = T0 + 1000
        await state.enqueue(call("old", "slow", entered_at=now - 100))  # weighted 100
        await state.enqueue(call("vip", "vip", entered_at=now - 40))  # weighted 120
        await state.enqueue(call("urgent", "slow", priority=2, entered_at=now - 1))
        await state.apply("a", Ready(), now)
        order = []
        for _ in range(3):
            view = await state.agent_view("a", now)
            assert view is not None
            expected = view.decide(now).call_id
            match = await state.match_agent("a", now)
            assert match is not None and match.call_id == expected
            order.append(match.call_id)
            await _release(state, "a", match.call_id, now)
        assert order == ["urgent", "vip", "old"]
        assert await state.match_agent("a", now) is None

    await run(redis_server, queues, body)


@pytest_twisted.ensureDeferred
async def test_escalation_relaxes_requirements_as_the_call_waits(
    redis_server: RedisServer,
) -> None:
    steps = [
        EscalationStep(30, min_levels={"en": 5}),
        EscalationStep(60, drop={"legal"}),
    ]
    queue = Queue("q", {"en": 8, "legal": 3}, escalation=steps)

    async def body(state: RoutingState) -> None:
        await seat(
            state,
            [
                (agent("mid", {"en": 6, "legal": 3}, ["q"]), record("mid")),
                (agent("nolegal", {"en": 9}, ["q"]), record("nolegal", idle_since=T0 - 99)),
            ],
        )
        await state.enqueue(call("c1", "q", entered_at=T0))
        assert await state.match_call("c1", T0 + 29) is None
        assert await state.match_agent("mid", T0 + 29) is None
        assert await state.match_call("c1", T0 + 30) == Match("mid", "c1", "q")
        await state.enqueue(call("c2", "q", entered_at=T0))
        assert await state.match_agent("nolegal", T0 + 59) is None
        assert await state.match_agent("nolegal", T0 + 60) == Match("nolegal", "c2", "q")

    await run(redis_server, [queue], body)


@pytest_twisted.ensureDeferred
async def test_recent_decliners_and_unregistered_agents_are_skipped(
    redis_server: RedisServer,
) -> None:
    queue = Queue("q", decline_retry_seconds=30)

    async def body(state: RoutingState) -> None:
        await seat(
            state,
            [
                (agent("a", {}, ["q"]), record("a", idle_since=T0 - 300)),
                (agent("b", {}, ["q"]), record("b", idle_since=T0 - 200)),
                (agent("c", {}, ["q"]), record("c", idle_since=T0 - 100)),
            ],
        )
        await state.set_registered("b", T0 + 5)  # lapses at T0 + 5
        await state.enqueue(call("c1", "q", declined={"a": T0}))
        assert await state.match_call("c1", T0 + 10) == Match("c", "c1", "q")
        await state.enqueue(call("c2", "q", declined={"a": T0}))
        await state.set_registered("b", None)
        assert await state.match_call("c2", T0 + 29) is None
        assert await state.match_call("c2", T0 + 30) == Match("a", "c2", "q")

    await run(redis_server, [queue], body)


@pytest_twisted.ensureDeferred
async def test_agents_not_available_get_no_call(redis_server: RedisServer) -> None:
    async def body(state: RoutingState) -> None:
        await seat(
            state,
            [
                (agent(s.value, {}, ["support"]), record(s.value, s))
                for s in Status
                if s is not Status.AVAILABLE
            ],
        )
        await state.enqueue(call("c1"))
        assert await state.match_call("c1", T0 + 1) is None
        for s in Status:
            if s is not Status.AVAILABLE:
                assert await state.match_agent(s.value, T0 + 1) is None
        assert await state.position("c1") == 1

    await run(redis_server, [Queue("support")], body)


async def _release(state: RoutingState, agent_id: str, call_id: str, now: float) -> None:
    await state.apply(agent_id, Answer(call_id), now)
    await state.apply(agent_id, Hangup(call_id, 0), now)
