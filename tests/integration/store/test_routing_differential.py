"""Differential test: the Lua claim picks what the Python reference policy picks.

Random floors (fixed seeds: hypothesis is not available) of agents with skills, queues,
states, registrations and stats drawn from small sets so that ties happen; queues with every
strategy, weights and escalation steps; calls with priorities, IVR skills and declines. Each
call (then, on a fresh floor, each agent) is matched in turn and the claim compared with
``choose_agent`` / ``choose_call`` run on the store's own snapshot just before it.
"""

from __future__ import annotations

import random

import pytest
import pytest_twisted

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    EscalationStep,
    Queue,
    Status,
    Strategy,
    WaitingCall,
)
from callcenter.store.routing import RoutingState
from tests.integration.store.test_routing_kit import T0, agent, call, record, run, seat
from tests.support.redis_server import RedisServer

SKILLS = ("en", "fr", "de", "legal")
QUEUES = ("q0", "q1", "q2")
SEEDS = range(24)


def _levels(rng: random.Random, most: int, top: int) -> dict[str, int]:
    return {s: rng.randint(1, top) for s in rng.sample(SKILLS, rng.randint(0, most))}


def _queues(rng: random.Random) -> list[Queue]:
    out = []
    for name in QUEUES:
        steps = []
        for after in sorted(rng.sample([15.0, 35.0, 50.0], rng.randint(0, 2))):
            steps.append(
                EscalationStep(
                    after,
                    min_levels=_levels(rng, 2, 5),
                    drop=set(rng.sample(SKILLS, rng.randint(0, 1))),
                    lower_by=rng.choice([0, 0, 1, 3]),
                )
            )
        out.append(
            Queue(
                name,
                _levels(rng, 2, 6),
                rng.choice(list(Strategy)),
                weight=rng.choice([0.5, 1.0, 2.5, 3.0]),
                escalation=steps,
                decline_retry_seconds=30,
            )
        )
    return out


def _agents(rng: random.Random) -> list[tuple[Agent, AgentRecord, bool]]:
    out = []
    for n in range(10):
        queues = rng.sample(QUEUES, rng.randint(1, 3))
        status = rng.choice([Status.AVAILABLE] * 6 + [Status.PAUSED, Status.ON_CALL])
        rec = record(
            f"ag{n}",
            status,
            since=T0 - 5,
            idle_since=rng.choice([T0 - 100, T0 - 50, T0 - 20.25]),
            calls_taken=rng.choice([0, 1, 2]),
            talk_seconds=rng.choice([0.0, 30.5, 60.0]),
            offered_in={q: rng.choice([T0 - 40, T0 - 10]) for q in queues if rng.random() < 0.6},
        )
        skills = {s: rng.randint(2, 10) for s in rng.sample(SKILLS, rng.randint(1, 4))}
        config = agent(f"ag{n}", skills, queues)
        out.append((config, rec, rng.random() < 0.85))
    return out


def _calls(rng: random.Random) -> list[WaitingCall]:
    out = []
    for n in range(14):
        declined = {}
        if rng.random() < 0.3:
            declined[f"ag{rng.randrange(10)}"] = rng.choice([T0 - 5, T0 - 40])
        out.append(
            call(
                f"call{n:02d}",
                rng.choice(QUEUES),
                priority=rng.choice([0, 0, 0, 1, 5]),
                entered_at=T0 - rng.choice([90, 60, 40, 25, 10, 3]),
                skills=_levels(rng, 1, 4),
                declined=declined,
            )
        )
    return out


async def _floor(state: RoutingState, rng: random.Random) -> list[WaitingCall]:
    await state.configure_queues(_queues(rng))
    floor = _agents(rng)
    await seat(state, [(a, r) for a, r, _ in floor])
    for config, _, registered in floor:
        if not registered:
            await state.set_registered(config.id, None)
    calls = _calls(rng)
    for waiting in calls:
        await state.enqueue(waiting)
    return calls


@pytest.mark.parametrize("direction", ["call", "agent"])
@pytest_twisted.ensureDeferred
async def test_lua_claims_what_the_reference_chooses(
    redis_server: RedisServer, direction: str
) -> None:
    compared = matched = 0

    async def body(state: RoutingState) -> None:
        nonlocal compared, matched
        for seed in SEEDS:
            rng = random.Random(seed)
            await state._link.client.flushdb()
            calls = await _floor(state, rng)
            now = T0
            if direction == "call":
                for waiting in rng.sample(calls, len(calls)):
                    view = await state.call_view(waiting.call_id, now)
                    assert view is not None
                    expected = view.decide(now).agent_id
                    got = await state.match_call(waiting.call_id, now)
                    assert (got and got.agent_id) == expected, (seed, waiting.call_id)
                    compared, matched = compared + 1, matched + (got is not None)
            else:
                for n in rng.sample(range(10), 10):
                    agent_view = await state.agent_view(f"ag{n}", now)
                    assert agent_view is not None
                    expected = agent_view.decide(now).call_id
                    got = await state.match_agent(f"ag{n}", now)
                    assert (got and got.call_id) == expected, (seed, n)
                    compared, matched = compared + 1, matched + (got is not None)

    await run(redis_server, [], body)
    assert compared == len(SEEDS) * (14 if direction == "call" else 10)
    assert matched > compared // 4, "the random floors should match often enough to mean much"
