"""A supervisor moves a waiting call to another queue or changes its priority.

The change is one atomic rewrite of the call in Redis (``WaitingStore.change``): it keeps its
original entry time and its IVR skills, gets the new queue or priority, and its place follows
from both, as for an overflow. A call an agent's phone is ringing for, one that is talking, that
has ended or that is still in the IVR is refused with ``409`` and a slug saying which; an unknown
call is ``404``. Whoever holds the caller (this controller or another on the same Redis) is then
told (``RoutingService.call_changed``): the caller keeps its hold music, its call record and
events follow (``call.moved``, ``call.priority_changed``), announcements and the maximum wait
become the new queue's, and the call is matched again at once. Every change is audited.

-*- test-case-name: tests.integration.supervisor.test_calls_api -*-
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from callcenter.calls.errors import CallNotFoundError
from callcenter.domain.routing import WaitingCall
from callcenter.routing.handoff import CallNotice
from callcenter.store.routing.waiting import CallChange, Found
from callcenter.supervisor.audit import AuditTrail
from callcenter.supervisor.errors import CallNotWaitingError
from callcenter.web.auth import Principal

log = logging.getLogger(__name__)


class Store(Protocol):
    async def change(
        self, call_id: str, how: Callable[[WaitingCall], WaitingCall]
    ) -> CallChange: ...


class Records(Protocol):
    async def get(self, call_id: str) -> dict[str, Any] | None: ...


class Positions(Protocol):
    async def position(self, call_id: str) -> int | None: ...


class CallDesk:
    def __init__(
        self,
        store: Store,
        positions: Positions,
        records: Records,
        notify: Callable[[CallNotice], Awaitable[None]],
        audit: AuditTrail,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._positions = positions
        self._records = records
        self._notify = notify
        self._audit = audit
        self._now = clock

    async def move(self, call_id: str, queue: str, by: Principal) -> dict[str, Any]:
        change = await self._store.change(call_id, lambda c: replace(c, queue=queue))
        before, after = await self._changed(call_id, change)
        if change.found is Found.CHANGED:
            self._audit.record(
                by, "move-call", call_id, call_id, from_queue=before.queue, to_queue=after.queue
            )
            await self._notify(CallNotice("moved", call_id, before.queue, after.queue, by=by.name))
        return await self._view(after, moved_from=before.queue)

    async def set_priority(self, call_id: str, priority: int, by: Principal) -> dict[str, Any]:
        change = await self._store.change(call_id, lambda c: replace(c, priority=priority))
        before, after = await self._changed(call_id, change)
        if change.found is Found.CHANGED:
            self._audit.record(
                by,
                "set-call-priority",
                call_id,
                call_id,
                queue=after.queue,
                from_priority=before.priority,
                to_priority=after.priority,
            )
            notice = CallNotice(
                "priority", call_id, str(before.priority), str(after.priority), by=by.name
            )
            await self._notify(notice)
        return await self._view(after, previous_priority=before.priority)

    async def _changed(self, call_id: str, change: CallChange) -> tuple[WaitingCall, WaitingCall]:
        if change.before is not None and change.after is not None:
            return change.before, change.after
        if change.found is Found.RINGING:
            raise CallNotWaitingError(
                "call-ringing",
                f"call {call_id} is ringing agent {change.agent}; it cannot be changed now "
                "(it goes back to its queue if the agent does not answer)",
            )
        record = await self._records.get(call_id)
        if record is None:
            raise CallNotFoundError(call_id)
        if record.get("ended_at") is not None:
            raise CallNotWaitingError(
                "call-ended", f"call {call_id} has ended ({record.get('outcome')})"
            )
        if record.get("agent") is not None or record.get("outcome") == "connected":
            raise CallNotWaitingError(
                "call-connected", f"call {call_id} is talking to agent {record.get('agent')}"
            )
        raise CallNotWaitingError(
            "call-not-queued", f"call {call_id} is not waiting in a queue (it is in the IVR)"
        )

    async def _view(self, call: WaitingCall, **previous: Any) -> dict[str, Any]:
        return {
            "call_id": call.call_id,
            "queue": call.queue,
            "priority": call.priority,
            "entered_at": call.entered_at,
            "waited_seconds": round(self._now() - call.entered_at, 3),
            "position": await self._positions.position(call.call_id),
            **previous,
        }
