"""The waiting room: what each locally held caller hears and when it leaves its queue.

Routing (``RoutingService``) puts a caller in its Redis queue; this class looks after it from
then until an agent answers or the caller leaves. It is driven by the reactor clock:

- before the call joins, ``joining`` applies ``join_when_empty`` (nobody logged in: the caller
  overflows or hears a message and is hung up);
- per caller, a timer for the next announcement (position from ``RoutingState.position``,
  estimated wait from the queue's recent handle times in Redis and its staffed agents) and
  one for the queue's maximum wait;
- every ``EMPTY_CHECK_SECONDS`` the queues with ``leave_when_empty`` are checked for staffed
  agents, so a logout on any controller empties the queue within a second;
- when a call that reached an agent ends, its handle time (talk + wrap-up) is recorded.

While an agent's phone rings for a caller (its position is None) nothing is announced and it
does not overflow; the timer tries again shortly. The rules themselves are pure, in
``callcenter.domain.routing.waiting``.

Overflow keeps the caller's priority and its original entry time, so in the new queue it is
served ahead of callers who arrived later (it is not sent to the back) and the call record's
wait counts the whole time. The new queue's maximum wait counts from the move, so a caller is
never thrown out of a queue the moment it enters it.

-*- test-case-name: tests.unit.routing.test_waiting_room -*-
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall

from callcenter.aio import as_deferred
from callcenter.calls.session import CallSession
from callcenter.config import QueueConfig
from callcenter.domain.routing import AgentSnapshot, WaitingCall
from callcenter.domain.routing.estimates import (
    HandleTimes,
    available_count,
    estimated_wait,
    staffed_count,
)
from callcenter.domain.routing.waiting import (
    TIMEOUT_MESSAGE,
    HangUp,
    LeaveReason,
    MoveTo,
    Overflow,
    QueueExperience,
    Stay,
    ToFlow,
    announcement_text,
    may_join,
    must_leave,
    next_announcement_at,
    overflow_decision,
)
from callcenter.roster import Roster

log = logging.getLogger(__name__)

#: How often queues with ``leave_when_empty`` are checked for logged-in agents.
EMPTY_CHECK_SECONDS = 1.0
#: When a timer finds an agent's phone ringing for the caller, it looks again after this.
RINGING_RETRY_SECONDS = 1.0


class WaitingState(Protocol):
    """What the waiting room reads from routing (``RoutingState``)."""

    async def position(self, call_id: str) -> int | None: ...

    async def members(self, queue: str) -> list[str]: ...

    async def snapshots(self, agent_ids: Iterable[str], now: float) -> list[AgentSnapshot]: ...

    async def enqueue(self, call: WaitingCall) -> None: ...


class WaitingStore(Protocol):
    """Handle times and moves (``callcenter.store.routing.waiting.WaitingStore``)."""

    async def record_handle_time(self, queue: str, seconds: float) -> None: ...

    async def handle_times(self, queue: str) -> HandleTimes: ...

    async def move(
        self, call_id: str, queue: str, expect: str | None = None
    ) -> WaitingCall | None: ...

    async def take(self, call_id: str, expect: str | None = None) -> WaitingCall | None: ...


def experiences(queues: Mapping[str, QueueConfig]) -> dict[str, QueueExperience]:
    """Each queue's experience settings from its configuration (validated in ``config``)."""
    out = {}
    for name, q in queues.items():
        overflow = None
        if q.overflow is not None:
            o = q.overflow
            overflow = Overflow(
                queue=o.queue, message=o.message, hangup=o.hangup, flow=o.flow, node=o.node
            )
        out[name] = QueueExperience(
            announce_position=q.announce_position,
            announce_wait=q.announce_wait,
            announce_first_seconds=q.announce_first_seconds,
            announce_every_seconds=q.announce_every_seconds,
            overflow=overflow,
            join_when_empty=q.join_when_empty,
            leave_when_empty=q.leave_when_empty,
        )
    return out


@dataclass
class _Waiter:
    session: CallSession
    queue: str
    since: float  # entered its current queue (max wait and the first announcement count from)
    visited: set[str] = field(default_factory=set)
    last_announced: float | None = None
    timers: dict[str, IDelayedCall] = field(default_factory=dict)
    leaving: bool = False


class WaitingRoom:
    def __init__(
        self,
        state: WaitingState,
        store: WaitingStore,
        roster: Roster,
        experiences: Mapping[str, QueueExperience],
        sessions: Mapping[str, CallSession],
        clock: IReactorTime,
        wall_time: Callable[[], float],
        rematch: Callable[[str], None],
        divert: Callable[[str, str, str | None, str, float | None], None] | None = None,
    ) -> None:
        self._state = state
        self._store = store
        self._roster = roster
        self._experiences = dict(experiences)
        self._sessions = sessions  # the call service's live sessions, by call id
        self._clock = clock
        self._now = wall_time
        self._rematch = rematch  # routing: match this call now (it moved queue)
        # the call service: continue a call in an IVR flow (call, flow, node, reason, waited)
        self._divert = divert
        self._waiters: dict[str, _Waiter] = {}
        self._check = LoopingCall(self._check_empty)
        self._check.clock = clock
        self.announced = 0
        self.overflowed = 0

    def start(self) -> None:
        if any(e.leave_when_empty for e in self._experiences.values()):
            self._check.start(EMPTY_CHECK_SECONDS, now=False)

    def stop(self) -> None:
        if self._check.running:
            self._check.stop()
        for waiter in self._waiters.values():
            _cancel(waiter)
        self._waiters.clear()

    # --- hooks from routing ----------------------------------------------------------------

    async def joining(self, call: WaitingCall) -> bool:
        """Before a call joins its queue: False when it must not (it has been dealt with)."""
        session = self._sessions.get(call.call_id)
        if session is None:
            return True
        experience = self._experience(call.queue)
        if experience.join_when_empty:  # the usual case: no need to count the staff
            return True
        if may_join(experience, await self._staffed(call.queue)):
            return True
        waiter = _Waiter(session, call.queue, self._now(), {call.queue})
        self._waiters[call.call_id] = waiter
        await self._leave(waiter, LeaveReason.EMPTY_ON_JOIN, call)
        return False

    def queued(self, call: WaitingCall) -> None:
        """The call is in its queue: start its announcement and max-wait timers."""
        session = self._sessions.get(call.call_id)
        if session is None:
            return
        waiter = self._waiters.get(call.call_id)
        if waiter is None:
            waiter = _Waiter(session, call.queue, self._now(), {call.queue})
            self._waiters[call.call_id] = waiter
        self._schedule(waiter)

    def call_ended(self, call_id: str) -> None:
        """The caller's leg is gone: stop its timers; if an agent served it, keep the time."""
        waiter = self._waiters.pop(call_id, None)
        if waiter is None:
            return
        _cancel(waiter)
        record = waiter.session.record
        if record.connected_at is None or record.ended_at is None:
            return
        queue = self._roster.queues.get(waiter.queue)
        wrap_up = queue.wrap_up_seconds if queue is not None else 0.0
        handled = max(0.0, record.ended_at - record.connected_at) + wrap_up
        self._spawn(self._store.record_handle_time(waiter.queue, handled))

    def moved(self, call_id: str, queue: str) -> None:
        """A supervisor moved the call to ``queue`` (already done in Redis): from now on its
        announcements and maximum wait are the new queue's, counted from the move."""
        waiter = self._waiters.get(call_id)
        if waiter is None:
            return
        waiter.queue, waiter.since, waiter.last_announced = queue, self._now(), None
        waiter.visited.add(queue)
        waiter.leaving = False
        self._schedule(waiter)

    # --- timers ------------------------------------------------------------------------------

    def _schedule(self, waiter: _Waiter) -> None:
        _cancel(waiter)
        now = self._now()
        experience = self._experience(waiter.queue)
        at = next_announcement_at(waiter.since, waiter.last_announced, experience)
        if at is not None:
            self._at(waiter, "announce", at - now, self._announce)
        queue = self._roster.queues.get(waiter.queue)
        if queue is not None and queue.max_wait_seconds is not None:
            self._at(waiter, "max_wait", waiter.since + queue.max_wait_seconds - now, self._timeout)

    def _at(
        self,
        waiter: _Waiter,
        name: str,
        delay: float,
        work: Callable[[_Waiter], Coroutine[Any, Any, None]],
    ) -> None:
        call_id = waiter.session.call_id

        def fire() -> None:
            waiter.timers.pop(name, None)
            if self._waiters.get(call_id) is waiter and waiter.session.waiting:
                self._spawn(work(waiter))

        old = waiter.timers.pop(name, None)
        if old is not None and old.active():
            old.cancel()
        waiter.timers[name] = self._clock.callLater(max(0.0, delay), fire)

    async def _announce(self, waiter: _Waiter) -> None:
        call_id = waiter.session.call_id
        position = await self._state.position(call_id)
        if position is None:  # an agent's phone is ringing for it (or it just left)
            self._at(waiter, "announce", RINGING_RETRY_SECONDS, self._announce)
            return
        experience = self._experience(waiter.queue)
        estimate = None
        if experience.announce_wait:
            agents = await self._members(waiter.queue)
            handle = (await self._store.handle_times(waiter.queue)).average()
            staffed = staffed_count(agents, waiter.queue)
            available = available_count(agents, waiter.queue)
            estimate = estimated_wait(position, handle, staffed, available)
        text = announcement_text(position, estimate, experience)
        if self._waiters.get(call_id) is not waiter or waiter.leaving:
            return
        waiter.last_announced = self._now()
        if text is not None and waiter.session.waiting:
            self.announced += 1
            waiter.session.announce(
                text, queue=waiter.queue, position=position, estimate=_rounded(estimate)
            )
        self._schedule(waiter)

    async def _timeout(self, waiter: _Waiter) -> None:
        if await self._state.position(waiter.session.call_id) is None:
            self._at(waiter, "max_wait", RINGING_RETRY_SECONDS, self._timeout)
            return
        await self._leave(waiter, LeaveReason.MAX_WAIT)

    def _check_empty(self) -> None:
        self._spawn(self._check_empty_async())

    async def _check_empty_async(self) -> None:
        by_queue: dict[str, list[_Waiter]] = {}
        for waiter in self._waiters.values():
            if not waiter.leaving and self._experience(waiter.queue).leave_when_empty:
                by_queue.setdefault(waiter.queue, []).append(waiter)
        for queue, waiters in by_queue.items():
            if must_leave(self._experience(queue), await self._staffed(queue)):
                for waiter in waiters:
                    if waiter.session.waiting and not waiter.leaving:
                        await self._leave(waiter, LeaveReason.EMPTIED)

    # --- leaving a queue -----------------------------------------------------------------

    async def _leave(
        self, waiter: _Waiter, reason: LeaveReason, pending: WaitingCall | None = None
    ) -> None:
        """Carry out the queue's overflow rule for ``waiter``.

        ``pending`` is the call when it is not in Redis (refused at joining); None means it
        waits in ``waiter.queue``.
        """
        session = waiter.session
        call_id = session.call_id
        waited = _waited(session, self._now())
        here = waiter.queue  # a supervisor may move the call meanwhile: then nothing is done
        decision = overflow_decision(self._experience(here), reason, waiter.visited)
        if isinstance(decision, MoveTo) and decision.queue not in self._roster.queues:
            log.error("call %s: overflow queue %r is not configured", call_id, decision.queue)
            decision = overflow_decision(QueueExperience(), reason, ())
        if isinstance(decision, Stay):
            if decision.message:
                session.announce(decision.message, queue=waiter.queue, reason=str(reason))
            return
        waiter.leaving = True
        _cancel(waiter)
        if isinstance(decision, ToFlow) and self._divert is not None:
            if pending is None and await self._store.take(call_id, expect=here) is None:
                self._retry(waiter, reason)  # an agent's phone rings for it: look again later
                return
            self._waiters.pop(call_id, None)
            self.overflowed += 1
            self._divert(call_id, decision.flow, decision.node, str(reason), waited)
            return
        if isinstance(decision, ToFlow):  # no call service to divert to (tests): hang up
            decision = HangUp(TIMEOUT_MESSAGE)
        if isinstance(decision, HangUp):
            if pending is None and await self._store.take(call_id, expect=here) is None:
                self._retry(waiter, reason)  # an agent's phone rings for it: look again later
                return
            self._waiters.pop(call_id, None)
            self.overflowed += 1
            session.leave_queue(decision.message, str(reason), waited)
            return
        target = decision.queue
        joins = may_join(self._experience(target), await self._staffed(target))
        follow: WaitingCall | None = None  # the call, if the target refuses it in turn
        if pending is None:
            call = await (
                self._store.move(call_id, target, expect=here)
                if joins
                else self._store.take(call_id, expect=here)
            )
            if call is None:
                self._retry(waiter, reason)
                return
            follow = None if joins else replace(call, queue=target)
        else:
            follow = replace(pending, queue=target)
            if joins:
                await self._state.enqueue(follow)
                follow = None
        if decision.message:
            session.announce(decision.message, queue=waiter.queue, reason=str(reason))
        self.overflowed += 1
        session.overflowed(target, str(reason), waited)
        waiter.visited.add(target)
        waiter.queue, waiter.since, waiter.leaving = target, self._now(), False
        if follow is not None:  # the overflow queue is empty and refuses callers too
            await self._leave(waiter, LeaveReason.EMPTY_ON_JOIN, follow)
            return
        self._schedule(waiter)
        self._rematch(call_id)

    def _retry(self, waiter: _Waiter, reason: LeaveReason) -> None:
        waiter.leaving = False
        here = waiter.queue

        async def again(w: _Waiter) -> None:
            if w.queue == here:  # else a supervisor moved it: the new queue's rules apply
                await self._leave(w, reason)

        self._at(waiter, "leave", RINGING_RETRY_SECONDS, again)

    # --- helpers -------------------------------------------------------------------------

    def _experience(self, queue: str) -> QueueExperience:
        return self._experiences.get(queue) or QueueExperience()

    async def _members(self, queue: str) -> list[AgentSnapshot]:
        ids = await self._state.members(queue)  # from Redis: supervisors edit queues at runtime
        return await self._state.snapshots(ids, self._now()) if ids else []

    async def _staffed(self, queue: str) -> int:
        return staffed_count(await self._members(queue), queue)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        def failed(failure: Any) -> None:
            log.error("waiting room: %s", failure.getTraceback())

        as_deferred(work).addErrback(failed)


def _cancel(waiter: _Waiter) -> None:
    for timer in waiter.timers.values():
        if timer.active():
            timer.cancel()
    waiter.timers.clear()


def _waited(session: CallSession, now: float) -> float | None:
    queued_at = session.record.queued_at
    return None if queued_at is None else round(now - queued_at, 3)


def _rounded(estimate: float | None) -> float | None:
    return None if estimate is None else round(estimate, 1)
