"""Every agent state change reaches the event log as ``agent.state`` (real Redis)."""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted

from callcenter.domain.routing import (
    Answer,
    CancelOffer,
    EndWrapUp,
    Hangup,
    Login,
    Logout,
    NoAnswer,
    Pause,
    Queue,
    Ready,
)
from callcenter.routing.agent_events import AgentStateJournal
from callcenter.store import keys
from callcenter.store.call_records import EventLog
from callcenter.store.routing import RoutingState
from tests.integration.store.test_routing_kit import T0, agent, call, run
from tests.support.redis_server import RedisServer


async def _agent_events(state: RoutingState) -> list[tuple[str, dict[str, Any]]]:
    link = state._link
    await link.drained()
    entries: list[Any] = await link.client.xrange(keys.EVENTS)  # type: ignore[assignment]
    return [
        (str(fields["call_id"]), json.loads(fields["data"]))
        for _, fields in entries
        if fields["type"] == "agent.state"
    ]


@pytest_twisted.ensureDeferred
async def test_a_day_of_an_agent_is_a_chain_of_agent_state_events(
    redis_server: RedisServer,
) -> None:
    got: list[tuple[str, dict[str, Any]]] = []

    async def body(state: RoutingState) -> None:
        state.on_state_change = AgentStateJournal(EventLog(state._link))
        await state.put_agent(agent("a"), T0)  # configured: no change, no event
        await state.set_registered("a", T0 + 3600)
        await state.apply("a", Login(), T0 + 1)
        await state.enqueue(call("c1", entered_at=T0 + 2))
        assert await state.match_call("c1", T0 + 3) is not None  # the Lua claim
        await state.apply("a", Answer("c1"), T0 + 4)
        await state.apply("a", Hangup("c1", 10), T0 + 64)
        await state.apply("a", EndWrapUp(), T0 + 74)
        await state.enqueue(call("c2", entered_at=T0 + 80))
        assert await state.match_agent("a", T0 + 80) is not None
        await state.apply("a", NoAnswer("c2"), T0 + 100)  # RONA: paused
        await state.apply("a", Ready(), T0 + 110)
        await state.enqueue(call("c3", entered_at=T0 + 111))
        assert await state.match_call("c3", T0 + 111) is not None
        await state.apply("a", CancelOffer("c3"), T0 + 112)  # caller hung up while it rang
        await state.apply("a", Pause("lunch"), T0 + 120)
        await state.apply("a", Logout(), T0 + 130)

        got.extend(await _agent_events(state))

    await run(redis_server, [Queue("support")], body)

    def ev(
        call_id: str, status: str, previous: str, at: float, reason: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        return call_id, {
            "agent": "a",
            "status": status,
            "previous": previous,
            "reason": reason,
            "call": call_id or None,
            "queue": "support" if call_id else None,
            "since": at,
        }

    assert got == [
        ev("", "available", "offline", T0 + 1),
        ev("c1", "reserved", "available", T0 + 3),
        ev("c1", "on-call", "reserved", T0 + 4),
        ev("c1", "wrap-up", "on-call", T0 + 64),
        ev("c1", "available", "wrap-up", T0 + 74),  # names the call just wrapped up
        ev("c2", "reserved", "available", T0 + 80),
        ev("c2", "paused", "reserved", T0 + 100, "no-answer"),
        ev("", "available", "paused", T0 + 110),
        ev("c3", "reserved", "available", T0 + 111),
        ev("c3", "available", "reserved", T0 + 112),
        ev("", "paused", "available", T0 + 120, "lunch"),
        ev("", "offline", "paused", T0 + 130),
    ]


@pytest_twisted.ensureDeferred
async def test_a_failing_listener_does_not_undo_the_change(redis_server: RedisServer) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("listener down")

    async def body(state: RoutingState) -> None:
        state.on_state_change = broken
        await state.put_agent(agent("a"), T0)
        done = await state.apply("a", Login(), T0 + 1)
        assert done.record.state.status.value == "available"
        assert (await state.load_agents())["a"].state.status.value == "available"

    await run(redis_server, [Queue("support")], body)
