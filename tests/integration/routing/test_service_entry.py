"""A caller whose queue entry fails for a moment (Redis hiccup) is retried, never stranded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from twisted.internet.task import Clock

from callcenter.domain.ivr.actions import EnterQueue
from callcenter.domain.routing import Queue
from callcenter.roster import Roster
from callcenter.routing.service import RoutingService
from callcenter.store.link import RedisUnavailableError
from tests.integration.agents.kit import in_task
from tests.integration.store.test_routing_kit import T0, open_state
from tests.support.redis_server import RedisServer


def _session(call_id: str) -> Any:
    record = SimpleNamespace(
        outcome="queued",
        caller="+441234",
        caller_name="",
        priority=None,
        queued_at=None,
        call_id=call_id,
    )
    return SimpleNamespace(call_id=call_id, record=record)


async def _service(url: str, sessions: dict[str, Any]) -> tuple[RoutingService, Any]:
    _, state = await open_state(url, [Queue("support")])
    roster = Roster(agents={}, queues={"support": Queue("support")}, passwords={})
    service = RoutingService(
        state, roster, cast(Any, None), sessions, Clock(), lambda: T0, "127.0.0.1:5060"
    )
    return service, state


def _fail_once(state: Any) -> list[str]:
    real = state.enqueue
    failures: list[str] = []

    async def enqueue(call: Any) -> None:
        if not failures:
            failures.append(call.call_id)
            raise RedisUnavailableError("Redis is unavailable: Too many connections")
        await real(call)

    state.enqueue = enqueue
    return failures


@in_task
async def test_a_failed_queue_entry_is_retried_by_the_sweep(redis_server: RedisServer) -> None:
    sessions = {"c1": _session("c1")}
    service, state = await _service(redis_server.url, sessions)
    failures = _fail_once(state)
    service.call_queued(sessions["c1"], EnterQueue("support", 2, {}))
    await asyncio.sleep(0.1)
    assert failures == ["c1"]
    assert await state.get_call("c1") is None  # not in the queue yet
    await service._sweep_async()
    waiting = await state.get_call("c1")
    assert waiting is not None and waiting.priority == 2


@in_task
async def test_a_caller_leaving_while_entering_is_not_left_in_the_queue(
    redis_server: RedisServer,
) -> None:
    sessions = {"c2": _session("c2")}
    service, state = await _service(redis_server.url, sessions)
    _fail_once(state)
    service.call_queued(sessions["c2"], EnterQueue("support", 0, {}))
    await asyncio.sleep(0.1)
    del sessions["c2"]
    service.call_ended("c2")
    await service._sweep_async()
    await asyncio.sleep(0.1)
    assert await state.get_call("c2") is None
