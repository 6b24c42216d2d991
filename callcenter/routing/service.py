"""Routing in the running service: queued callers meet available agents.

The decision itself is the atomic Redis match (``RoutingState.match_call``/``match_agent``,
reference logic in ``callcenter.domain.routing.policy``). This adapter does the rest:

- a call the IVR queues is put in its Redis queue and matched at once;
- a match rings the agent: the worker holding the caller dials the agent's phone through the
  SIP front (the phone shows the caller's number and the queue);
- the agent answers: caller and agent are bridged; no answer in the queue's ring time: the
  agent is paused ``no-answer`` and the call goes back to the head of its queue (RONA); busy or
  decline: the next agent; the caller hangs up while it rings: the phone stops ringing and the
  agent is not penalised;
- the conversation ends: wrap-up for the queue's wrap-up time, then the agent is available
  again and takes the most urgent call across its queues.

A sweep every few seconds re-runs the match for calls still waiting, which is how escalation
steps (requirements relaxed as a call waits) take effect, and ends wrap-ups whose timer was
lost (a restart of the service).

-*- test-case-name: tests.e2e.test_routing -*-
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall

from callcenter.aio import as_deferred
from callcenter.calls.session import CallSession
from callcenter.domain.ivr.actions import EnterQueue
from callcenter.domain.routing.agents import Status
from callcenter.domain.routing.errors import RoutingError
from callcenter.domain.routing.queues import WaitingCall
from callcenter.domain.routing.transitions import (
    Answer,
    CallReturned,
    CancelOffer,
    Command,
    Decline,
    EndWrapUp,
    Hangup,
    NoAnswer,
)
from callcenter.media import protocol as media
from callcenter.roster import Roster
from callcenter.routing.handoff import CallNotice, OfferHandoff
from callcenter.routing.waiting import WaitingRoom
from callcenter.store.routing.state import RoutingState
from callcenter.store.routing.views import Match

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0


class MediaPool(Protocol):
    def send(self, call_id: str, command: media.Command) -> None: ...


@dataclass
class Offer:
    """An agent's phone ringing (then talking) for one caller."""

    leg: str
    call_id: str
    agent_id: str
    queue: str
    answered: bool = False


class RoutingService:
    def __init__(
        self,
        state: RoutingState,
        roster: Roster,
        pool: MediaPool,
        sessions: dict[str, CallSession],
        clock: IReactorTime,
        wall_time: Callable[[], float],
        front_host: str,
        handoff: OfferHandoff | None = None,
    ) -> None:
        self._state = state
        self._roster = roster
        self._pool = pool
        self._sessions = sessions  # the call service's live sessions, by call id
        self._clock = clock
        self._now = wall_time
        self._front_host = front_host
        self._handoff = handoff  # several controllers: matches for callers held elsewhere
        self.offers: dict[str, Offer] = {}  # by leg id
        self._entering: dict[str, WaitingCall] = {}  # queued by the IVR, not yet in Redis
        self._in_flight: set[str] = set()
        self._wrap_ups: dict[str, IDelayedCall] = {}
        self._sweep = LoopingCall(self._sweep_once)
        self._sweep.clock = clock
        self.matches = 0
        self.failed_offers = 0
        self.waiting: WaitingRoom | None = None  # announcements, max wait, empty queues
        # Recording's hooks: caller and agent bridged (offer, caller's number); a key the
        # agent pressed during the conversation (call id, agent id, digit).
        self.on_connected: Callable[[Offer, str], None] | None = None
        self.on_agent_digit: Callable[[str, str, str], None] | None = None

    def start(self) -> None:
        """Agents and queues are in Redis already (``AgentsService.start``)."""
        self._sweep.start(SWEEP_SECONDS, now=False)

    def stop(self) -> None:
        if self._sweep.running:
            self._sweep.stop()
        for timer in self._wrap_ups.values():
            if timer.active():
                timer.cancel()

    # --- from the call service -------------------------------------------------------------

    def call_queued(self, session: CallSession, action: EnterQueue) -> None:
        queue = self._roster.queues.get(action.queue)
        if queue is None:  # checked at start; a flow reloaded since may name a new queue
            log.error("call %s: queue %r is not configured", session.call_id, action.queue)
            return
        waiting = WaitingCall(
            call_id=session.call_id,
            queue=queue.name,
            priority=action.priority,
            entered_at=self._now(),
            skills=dict(action.skills),
        )
        if self._handoff is not None:
            self._handoff.claim(session.call_id)
        self._entering[waiting.call_id] = waiting
        self._spawn(self._enqueue(waiting))

    def call_ended(self, call_id: str) -> None:
        """The caller's leg is gone: leave the queue; a ringing phone is withdrawn by the worker."""
        if self._handoff is not None:
            self._handoff.forget(call_id)
        if self.waiting is not None:
            self.waiting.call_ended(call_id)
        self._entering.pop(call_id, None)
        self._spawn(self._state.remove(call_id))

    def calls_lost(self, call_ids: list[str]) -> None:
        """A worker crashed: the agents talking to (or rung for) its callers are freed."""
        for offer in [o for o in self.offers.values() if o.call_id in call_ids]:
            del self.offers[offer.leg]
            if offer.answered:
                self._agent_hung_up(offer, by_agent=False)
            else:
                self._spawn(self._after_failure(offer, CancelOffer(offer.call_id), retry=False))

    def handles(self, event: dict[str, Any]) -> bool:
        return event.get("call") in self.offers

    def on_leg_event(self, event: dict[str, Any]) -> None:
        offer = self.offers.get(str(event.get("call")))
        if offer is None:
            return
        kind = event.get("ev")
        if kind == "leg_answered":
            self._answered(offer)
        elif kind == "leg_failed":
            del self.offers[offer.leg]
            self._failed(offer, int(event.get("code", 500)), str(event.get("reason", "")))
        elif kind == "hangup":
            del self.offers[offer.leg]
            self._agent_hung_up(offer, by_agent=event.get("by") == "remote")
        elif kind == "leg_hold":
            session = self._sessions.get(offer.call_id)
            if session is not None:
                session.agent_hold(offer.agent_id, bool(event.get("held")))
        elif kind == "dtmf" and offer.answered and self.on_agent_digit is not None:
            self.on_agent_digit(offer.call_id, offer.agent_id, str(event.get("digit", "")))

    # --- agents ------------------------------------------------------------------------------

    def calls_returned(self, events: Sequence[object]) -> None:
        """An agent logged out while its phone rang: the phone stops ringing and the call,
        already back at the head of its queue, goes to the next agent."""
        for event in events:
            if not isinstance(event, CallReturned) or event.reason != "logged-out":
                continue  # RONA and declines are handled where the leg failed
            if self._withdraw(event.call_id, event.agent_id) or self._handoff is None:
                self._spawn(self._match_call(event.call_id))
            else:  # the phone rings from another controller: it stops it, then we match
                notice = CallNotice("withdrawn", event.call_id, agent=event.agent_id)
                self._spawn(self._withdraw_elsewhere(notice))

    def _withdraw(self, call_id: str, agent_id: str) -> bool:
        """Stop our ringing offer of ``call_id`` to ``agent_id``; False if we have none."""
        found = [o for o in self.offers.values() if o.call_id == call_id]
        for offer in found:
            if offer.agent_id != agent_id:
                continue
            del self.offers[offer.leg]
            with contextlib.suppress(LookupError):
                self._pool.send(offer.leg, media.CancelDial(offer.leg))
        return bool(found) or call_id in self._sessions

    async def _withdraw_elsewhere(self, notice: CallNotice) -> None:
        if self._handoff is not None:
            await self._handoff.notify(notice)
        await self._match_call(notice.call)

    async def call_changed(self, notice: CallNotice) -> None:
        """A supervisor changed a waiting call in Redis: whoever holds the caller follows up
        (record, announcements, maximum wait, a new match); here or over the hand-off."""
        if notice.call in self._sessions:
            self.apply_notice(notice)
        elif self._handoff is None or not await self._handoff.notify(notice):
            log.info("call %s: %s, but no controller holds the caller", notice.call, notice.kind)
            await self._match_call(notice.call)

    def apply_notice(self, notice: CallNotice) -> None:
        """A notice about one of our callers (see :class:`CallNotice`)."""
        if notice.kind == "withdrawn":
            self._withdraw(notice.call, notice.agent)
            return  # the controller that logged the agent out matches the call again
        session = self._sessions.get(notice.call)
        if session is None:
            return
        if notice.kind == "moved":
            queued_at = session.record.queued_at
            waited = None if queued_at is None else round(self._now() - queued_at, 3)
            session.moved(notice.after, notice.by, waited)
            if self.waiting is not None:
                self.waiting.moved(notice.call, notice.after)
        elif notice.kind == "priority":
            session.reprioritized(int(notice.after), notice.by)
        self.rematch(notice.call)

    def rematch(self, call_id: str) -> None:
        """The waiting room moved a call to another queue (overflow): match it there now."""
        self._spawn(self._match_call(call_id))

    def agent_available(self, agent_id: str) -> None:
        """An agent became available (login, ready, wrap-up over): give it the best call."""
        self._spawn(self._match_agent(agent_id))

    # --- internals ---------------------------------------------------------------------------

    async def _enqueue(self, waiting: WaitingCall) -> None:
        """Put the call in its queue; until that has worked (Redis may fail for a moment), the
        call stays in ``_entering`` and the sweep tries again: a caller is never left on hold
        outside every queue. One attempt per call at a time."""
        call_id = waiting.call_id
        if call_id in self._in_flight:
            return
        self._in_flight.add(call_id)
        try:
            if self.waiting is not None and not await self.waiting.joining(waiting):
                self._entering.pop(call_id, None)
                return  # nobody logged in and the queue refuses callers: it overflowed instead
            await self._state.enqueue(waiting)
        finally:
            self._in_flight.discard(call_id)
        if self._entering.pop(call_id, None) is None:
            await self._state.remove(call_id)  # the caller left while it was entering
            return
        if self.waiting is not None:
            self.waiting.queued(waiting)
        await self._match_call(call_id)

    async def _match_call(self, call_id: str) -> None:
        match = await self._state.match_call(call_id, self._now())
        if match is not None:
            self._offer(match)

    async def _match_agent(self, agent_id: str) -> None:
        match = await self._state.match_agent(agent_id, self._now())
        if match is not None:
            self._offer(match)

    def _offer(self, match: Match) -> None:
        self.matches += 1
        session = self._sessions.get(match.call_id)
        agent = self._roster.agents.get(match.agent_id)
        if session is None or agent is None:
            self._spawn(self._offer_elsewhere(match))
            return
        queue = self._roster.queues[match.queue]
        leg = f"leg-{uuid.uuid4().hex}"
        caller = _caller_id(session.record.caller)
        try:
            dial = media.Dial(
                call=leg,
                peer=match.call_id,
                uri=f"sip:{agent.sip_username}@{self._front_host}",
                caller_id=caller,
                display=f"{queue.name}: {session.record.caller_name or caller}"[:128],
                timeout=queue.ring_timeout_seconds,
                headers=(("X-Queue", queue.name), ("X-Call-Id", match.call_id)),
            )
        except media.ProtocolError as exc:
            log.error("call %s: cannot dial %s: %s", match.call_id, agent.id, exc)
            self._spawn(self._apply(match.agent_id, CancelOffer(match.call_id)))
            return
        self.offers[leg] = Offer(leg, match.call_id, match.agent_id, match.queue)
        session.offered(agent.id, queue.name)
        try:
            self._pool.send(leg, dial)  # the pool places the leg with its peer
        except LookupError:  # the caller's worker let it go a moment ago
            del self.offers[leg]
            self._spawn(self._apply(match.agent_id, CancelOffer(match.call_id)))

    def offer_handed_over(self, match: Match) -> None:
        """Another controller matched one of our callers: ring the agent from here."""
        if match.call_id in self._sessions:
            self._offer(match)
        else:  # our caller left meanwhile: undo, and stop bouncing it between controllers
            self._spawn(self._undo(match))

    async def _offer_elsewhere(self, match: Match) -> None:
        if self._handoff is not None and await self._handoff.forward(match):
            return
        await self._undo(match)

    async def _undo(self, match: Match) -> None:
        """The match has no caller to ring for: free the agent, drop the dead call."""
        log.info("match %s → %s has no caller any more: undone", match.call_id, match.agent_id)
        await self._state.remove(match.call_id)
        if await self._apply(match.agent_id, CancelOffer(match.call_id)):
            await self._match_agent(match.agent_id)

    def _answered(self, offer: Offer) -> None:
        offer.answered = True
        session = self._sessions.get(offer.call_id)
        if session is None:
            return  # the caller hung up as the agent answered: the worker ends the leg
        try:
            self._pool.send(offer.call_id, media.Bridge(offer.call_id, offer.leg))
        except LookupError:
            return
        session.agent_connected(offer.agent_id)
        if self.on_connected is not None:
            self.on_connected(offer, session.record.caller)
        self._spawn(self._apply(offer.agent_id, Answer(offer.call_id)))

    def _failed(self, offer: Offer, code: int, reason: str) -> None:
        self.failed_offers += 1
        session = self._sessions.get(offer.call_id)
        if session is not None:
            session.offer_failed(offer.agent_id, code, reason)
        if code == 487 or session is None:
            command: Command = CancelOffer(offer.call_id)  # withdrawn: no penalty
        elif code in (486, 600, 603):
            command = Decline(offer.call_id, busy=code in (486, 600))
        elif code >= 500 and code != 503:
            # Our own fault (the front could not locate the phone, the worker failed): the
            # agent is not paused; the call goes back to the head of its queue for the sweep.
            self._spawn(self._service_fault(offer))
            return
        else:  # 408 ring timeout, 480/404/503 unreachable: RONA, the agent is paused
            command = NoAnswer(offer.call_id)
        self._spawn(self._after_failure(offer, command, retry=session is not None))

    async def _service_fault(self, offer: Offer) -> None:
        await self._state.requeue_at_head(offer.call_id)
        await self._apply(offer.agent_id, CancelOffer(offer.call_id))

    async def _after_failure(self, offer: Offer, command: Command, retry: bool) -> None:
        await self._apply(offer.agent_id, command)
        if isinstance(command, CancelOffer):
            self.agent_available(offer.agent_id)
        if retry:
            await self._match_call(offer.call_id)  # back at the head of its queue

    def _agent_hung_up(self, offer: Offer, by_agent: bool) -> None:
        session = self._sessions.get(offer.call_id)
        if session is not None and by_agent:
            session.agent_hung_up = True
        wrap_up = self._roster.queues[offer.queue].wrap_up_seconds
        # Stamped now, not when the write runs: the end timer below must not fire before the
        # wrap-up's recorded end (it would be refused, and the agent kept 2 s more).
        ended_at = self._now()
        self._spawn(self._apply(offer.agent_id, Hangup(offer.call_id, wrap_up), at=ended_at))
        self._schedule_wrap_up_end(offer.agent_id, wrap_up)

    def _schedule_wrap_up_end(self, agent_id: str, seconds: float) -> None:
        old = self._wrap_ups.pop(agent_id, None)
        if old is not None and old.active():
            old.cancel()

        def end() -> None:
            self._wrap_ups.pop(agent_id, None)
            self._spawn(self._end_wrap_up(agent_id))

        self._wrap_ups[agent_id] = self._clock.callLater(seconds, end)

    async def _end_wrap_up(self, agent_id: str) -> None:
        if await self._apply(agent_id, EndWrapUp()):
            await self._match_agent(agent_id)

    async def _apply(self, agent_id: str, command: Command, at: float | None = None) -> bool:
        try:
            await self._state.apply(agent_id, command, self._now() if at is None else at)
        except RoutingError as exc:  # e.g. the agent logged out meanwhile: nothing to undo
            log.info("agent %s: %s not applied: %s", agent_id, type(command).__name__, exc)
            return False
        return True

    def _sweep_once(self) -> None:
        self._spawn(self._sweep_async())

    async def _sweep_async(self) -> None:
        now = self._now()
        # Most urgent first (priority, then wait): an agent freed while the sweep runs goes to
        # the call that ranks first, as it would through its own match, not to whichever
        # caller happens to come first in this process's table.
        records = [s.record for s in self._sessions.values() if s.record.outcome == "queued"]
        records.sort(key=lambda r: (-(r.priority or 0), r.queued_at or 0.0, r.call_id))
        queued = [record.call_id for record in records]
        ringing = {offer.call_id for offer in self.offers.values()}
        for waiting in list(self._entering.values()):
            await self._enqueue(waiting)
        for call_id in queued:
            if call_id not in ringing and call_id not in self._entering:
                await self._match_call(call_id)
        for agent_id, record in (await self._state.load_agents()).items():
            state = record.state
            due = state.wrap_up_until is not None and state.wrap_up_until <= now
            if state.status is Status.WRAP_UP and due and agent_id not in self._wrap_ups:
                await self._end_wrap_up(agent_id)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        def failed(failure: Any) -> None:
            log.error("routing: %s", failure.getTraceback())

        as_deferred(work).addErrback(failed)


def _caller_id(number: str) -> str:
    """The caller's number as the agent's phone can show it (From user part)."""
    kept = re.sub(r"[^A-Za-z0-9+*._~-]", "", number)[:64]
    return kept or "anonymous"
