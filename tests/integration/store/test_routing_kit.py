"""Helpers shared by the routing store tests, and the codec round trips they rely on.

(Named ``test_routing_*`` to sit with the tests it serves; its own tests check that what the
store writes comes back bit-for-bit, which every differential test depends on.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentState,
    AgentStats,
    Queue,
    Status,
    WaitingCall,
)
from callcenter.store.link import RedisLink
from callcenter.store.routing import RoutingState
from tests.support.redis_server import RedisServer

#: Realistic epoch seconds with a fraction, so any rounding of times would show.
T0 = 1_700_000_000.123456


def agent(
    agent_id: str, skills: Mapping[str, int] | None = None, queues: Sequence[str] = ("support",)
) -> Agent:
    return Agent(agent_id, agent_id.upper(), f"sip-{agent_id}", dict(skills or {}), list(queues))


def record(
    agent_id: str,
    status: Status = Status.AVAILABLE,
    *,
    since: float = T0,
    idle_since: float = T0,
    calls_taken: int = 0,
    talk_seconds: float = 0.0,
    offered_in: Mapping[str, float] | None = None,
) -> AgentRecord:
    if status is Status.PAUSED:
        state = AgentState(status, since, reason="lunch")
    elif status is Status.WRAP_UP:
        state = AgentState(status, since, call_id="x", queue="support", wrap_up_until=since + 5)
    elif status in (Status.RESERVED, Status.ON_CALL):
        state = AgentState(status, since, call_id="x", queue="support")
    else:
        state = AgentState(status, since)
    stats = AgentStats(
        idle_since=idle_since,
        calls_taken=calls_taken,
        talk_seconds=talk_seconds,
        last_offered_in=dict(offered_in or {}),
    )
    return AgentRecord(agent_id, state, stats)


def call(
    call_id: str,
    queue: str = "support",
    *,
    priority: int = 0,
    entered_at: float = T0,
    skills: Mapping[str, int] | None = None,
    declined: Mapping[str, float] | None = None,
) -> WaitingCall:
    return WaitingCall(
        call_id, queue, priority, entered_at, dict(skills or {}), dict(declined or {})
    )


async def open_state(url: str, queues: Iterable[Queue]) -> tuple[RedisLink, RoutingState]:
    link = RedisLink(url)
    await link.connect()
    state = RoutingState(link)
    await state.configure_queues(queues)
    return link, state


async def seat(
    state: RoutingState,
    agents: Iterable[tuple[Agent, AgentRecord]],
    *,
    registered_until: float | None = T0 + 3600,
) -> None:
    """Configure agents, store their records as given and register them."""
    for config, rec in agents:
        await state.put_agent(config, T0)
        await state.store_record(rec)
        await state.set_registered(config.id, registered_until)


def run(
    server: RedisServer, queues: Iterable[Queue], body: Callable[[RoutingState], Awaitable[None]]
) -> Any:
    """A Deferred running ``body`` against a fresh store on ``server`` (closed afterwards)."""

    async def scenario() -> None:
        link, state = await open_state(server.url, queues)
        try:
            await body(state)
        finally:
            await link.close()

    return as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_records_and_calls_come_back_bit_for_bit(redis_server: RedisServer) -> None:
    odd = T0 + 0.000001

    async def body(state: RoutingState) -> None:
        rec = record(
            "a1",
            Status.WRAP_UP,
            since=odd,
            idle_since=odd - 3.3,
            calls_taken=7,
            talk_seconds=123.456789,
            offered_in={"support": odd - 1, "sales": 0.1},
        )
        await seat(state, [(agent("a1", {"fr": 3}, ["support", "sales"]), rec)])
        assert (await state.load_agents()) == {"a1": rec}
        waiting = call("c1", priority=7, entered_at=odd, skills={"fr": 2}, declined={"a1": odd})
        await state.enqueue(waiting)
        assert await state.get_call("c1") == waiting

    await run(redis_server, [Queue("support"), Queue("sales")], body)
