"""Shared set-up of the agents integration tests: a roster, a real Redis, the service."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest_twisted
from twisted.internet.defer import Deferred

from callcenter.agents.service import AgentsService
from callcenter.aio import as_deferred
from callcenter.domain.routing import Agent, Event, Queue
from callcenter.roster import Roster
from callcenter.store.link import RedisLink
from callcenter.store.registrations import RedisBindingStore
from callcenter.store.routing import RoutingState

# An hour ahead: bindings expire in Redis by real time (PEXPIREAT), and a long test run must
# not see them lapse before the fake clock says so.
T0 = float(int(time.time())) + 3600
ANN = Agent("ann", "Ann", "ann-phone", {"billing": 5}, ("billing",))
BOB = Agent("bob", "Bob", "bob", {}, ("billing", "sales"))


def roster(*agents: Agent) -> Roster:
    chosen = agents or (ANN, BOB)
    return Roster(
        agents={a.id: a for a in chosen},
        queues={"billing": Queue("billing"), "sales": Queue("sales")},
        passwords={a.sip_username: f"{a.id}-password" for a in chosen},
    )


T = TypeVar("T")


async def wait(deferred: Deferred[T]) -> T:
    """A Deferred awaited from an asyncio task (a task cannot await a Deferred directly)."""
    return await deferred.asFuture(asyncio.get_running_loop())


def in_task(
    test: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., Any]:
    """Run an async test as an asyncio task (redis.asyncio needs one), on the reactor's loop."""

    @functools.wraps(test)
    async def wrapper(*args: Any, **kwargs: Any) -> None:
        await as_deferred(test(*args, **kwargs))

    return pytest_twisted.ensureDeferred(wrapper)  # type: ignore[no-any-return]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Heard:
    """What the service told its listeners."""

    available: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def on_available(self, agent_id: str) -> None:
        self.available.append(agent_id)

    async def on_events(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


@dataclass
class Env:
    link: RedisLink
    state: RoutingState
    bindings: RedisBindingStore
    service: AgentsService
    clock: Clock
    heard: Heard


@asynccontextmanager
async def agents_env(
    url: str, the_roster: Roster | None = None, clock: Clock | None = None, **start: Any
) -> AsyncIterator[Env]:
    """A started AgentsService on ``url``; a second one on the same Redis is a restart."""
    link = RedisLink(url)
    await link.connect()
    try:
        state = RoutingState(link)
        bindings = RedisBindingStore(link)
        heard = Heard()
        clock = clock or Clock()
        service = AgentsService(
            the_roster or roster(),
            state,
            bindings,
            clock,
            on_available=heard.on_available,
            on_events=heard.on_events,
        )
        await service.start(**start)
        yield Env(link, state, bindings, service, clock, heard)
    finally:
        await link.close()
