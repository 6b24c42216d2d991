"""Conversations held by another controller: where to send the supervisor instead.

With several ``serve`` processes on one Redis, an agent may talk to a caller whose media sits
in another controller's worker; only that controller can tap it. Each controller publishes its
SIP front's address in Redis; a supervisor's INVITE for an agent on a call held elsewhere is
answered ``302 Moved Temporarily`` with that front in ``Contact``, and the phone re-sends the
INVITE there (authenticating again).

-*- test-case-name: tests.e2e.test_monitor_two_controllers -*-
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as redis

from callcenter.domain.routing.agents import Status
from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.routing.state import RoutingState


class ConversationsElsewhere:
    def __init__(
        self,
        link: RedisLink,
        state: RoutingState,
        controller_id: str,
        clock: Callable[[], float],
    ) -> None:
        self._link = link
        self._state = state
        self._controller_id = controller_id
        self._clock = clock

    def publish(self, front: str) -> None:
        """Tell the other controllers where this one's SIP front is (``host:port``)."""
        key = keys.controller_front(self._controller_id)

        async def write(client: redis.Redis) -> None:
            await client.set(key, front)

        self._link.submit(write)

    def withdraw(self) -> None:
        key = keys.controller_front(self._controller_id)

        async def write(client: redis.Redis) -> None:
            await client.delete(key)

        self._link.submit(write)

    async def front_for(self, agent_id: str) -> str | None:
        """The front of the controller holding ``agent_id``'s conversation, if not this one."""
        found = await self._state.snapshots([agent_id], self._clock())
        if not found or found[0].state.status is not Status.ON_CALL:
            return None
        call_id = found[0].state.call_id
        if not call_id:
            return None
        owner = await self._link.read(lambda c: c.get(keys.call_owner(call_id)))
        if not owner or owner == self._controller_id:
            return None
        front = await self._link.read(lambda c: c.get(keys.controller_front(str(owner))))
        return str(front) if front else None
