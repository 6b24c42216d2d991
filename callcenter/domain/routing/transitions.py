"""The agent state machine: commands in, a new record and events out.

One pure function, :func:`transition`, so the REST API, the softphone
feature codes and the call path all change agents by the same rules, and the
adapter only has to store the record and publish the events.

Transition table (anything else raises :class:`TransitionError`; the slug for
each refusal is in :func:`_refusal`):

=============  =================================  ===================================
command        from                               to (and side effects)
=============  =================================  ===================================
Login          offline                            available; idle_since = now
Logout         available, paused, wrap-up         offline
Logout         reserved                           offline; the offer is withdrawn:
                                                  CallReturned(reason "logged-out")
Pause(reason)  available, wrap-up, paused         paused(reason) (a new reason
                                                  replaces the old one)
Ready          paused, wrap-up                    available (ends wrap-up early)
Reserve        available                          reserved(call, queue); last offered
Answer         reserved (same call)               on-call; calls_taken + 1
NoAnswer       reserved (same call)               paused("no-answer") (RONA);
                                                  CallReturned("no-answer")
Decline        reserved (same call)               available; CallReturned("declined"
                                                  or "busy", exclude_agent=True)
CancelOffer    reserved (same call)               available, not penalised (the
                                                  caller hung up while it rang)
Hangup         on-call (same call)                wrap-up until now + seconds, or
                                                  available if seconds is 0;
                                                  talk time added; idle_since = now
EndWrapUp      wrap-up, once wrap_up_until <= now available
=============  =================================  ===================================

A returned call goes back to its queue with its original ``entered_at``,
which puts it at the head of its priority band (see
:func:`callcenter.domain.routing.policy.queue_score`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

from callcenter.domain.routing.agents import AgentRecord, AgentState, Status
from callcenter.domain.routing.errors import TransitionError

NO_ANSWER_REASON: Final = "no-answer"


@dataclass(frozen=True)
class Login:
    """The agent starts work (REST or feature code ``*40``)."""


@dataclass(frozen=True)
class Logout:
    """The agent stops work; refused on a call, withdraws a ringing offer."""


@dataclass(frozen=True)
class Pause:
    """The agent stops taking calls for ``reason`` (``lunch``, ``training``, ...)."""

    reason: str


@dataclass(frozen=True)
class Ready:
    """The agent takes calls again (from pause, or ending wrap-up early)."""


@dataclass(frozen=True)
class Reserve:
    """Routing chose this agent for ``call_id`` of ``queue``; its phone starts ringing."""

    call_id: str
    queue: str


@dataclass(frozen=True)
class Answer:
    """The agent picked up the offered call."""

    call_id: str


@dataclass(frozen=True)
class NoAnswer:
    """The ring timeout ran out (redirect on no answer, RONA)."""

    call_id: str


@dataclass(frozen=True)
class Decline:
    """The agent rejected the offer, or its phone answered busy (``busy=True``)."""

    call_id: str
    busy: bool = False


@dataclass(frozen=True)
class CancelOffer:
    """The caller hung up while the agent's phone rang: stop ringing, no penalty."""

    call_id: str


@dataclass(frozen=True)
class Hangup:
    """Either side ended the conversation; wrap-up lasts ``wrap_up_seconds`` (the queue's)."""

    call_id: str
    wrap_up_seconds: float


@dataclass(frozen=True)
class EndWrapUp:
    """The wrap-up timer fired."""


Command: TypeAlias = (
    Login | Logout | Pause | Ready | Reserve | Answer | NoAnswer | Decline | CancelOffer | Hangup
) | EndWrapUp

#: Commands about the call the agent already holds; they must name that call.
CallCommand = Answer | NoAnswer | Decline | CancelOffer | Hangup

ReturnReason: TypeAlias = Literal["no-answer", "declined", "busy", "logged-out"]


@dataclass(frozen=True)
class AgentStateChanged:
    """Event: the agent went from ``old`` to ``new`` at ``at``."""

    agent_id: str
    old: Status
    new: Status
    at: float
    reason: str | None
    call_id: str | None
    queue: str | None = None  # the queue of ``call_id``


@dataclass(frozen=True)
class CallReturned:
    """Event: an offered call goes back to the head of ``queue``.

    With ``exclude_agent`` the adapter records the refusal on the call
    (:meth:`WaitingCall.with_decline`) so the next agent is tried first.
    """

    call_id: str
    queue: str
    agent_id: str
    reason: ReturnReason
    at: float
    exclude_agent: bool


Event: TypeAlias = AgentStateChanged | CallReturned


@dataclass(frozen=True)
class Transition:
    """The record after a command and the events to publish, in order."""

    record: AgentRecord
    events: tuple[Event, ...]


#: For each command, the states it is accepted in (EndWrapUp also needs the time to be up).
ACCEPTED_IN: dict[type[Command], frozenset[Status]] = {
    Login: frozenset({Status.OFFLINE}),
    Logout: frozenset({Status.AVAILABLE, Status.PAUSED, Status.WRAP_UP, Status.RESERVED}),
    Pause: frozenset({Status.AVAILABLE, Status.WRAP_UP, Status.PAUSED}),
    Ready: frozenset({Status.PAUSED, Status.WRAP_UP}),
    Reserve: frozenset({Status.AVAILABLE}),
    Answer: frozenset({Status.RESERVED}),
    NoAnswer: frozenset({Status.RESERVED}),
    Decline: frozenset({Status.RESERVED}),
    CancelOffer: frozenset({Status.RESERVED}),
    Hangup: frozenset({Status.ON_CALL}),
    EndWrapUp: frozenset({Status.WRAP_UP}),
}


def transition(record: AgentRecord, command: Command, now: float) -> Transition:
    """Apply ``command`` at time ``now``; raise :class:`TransitionError` if not allowed."""
    state = record.state
    if state.status not in ACCEPTED_IN[type(command)]:
        raise TransitionError(
            _refusal(state.status, command), record.agent_id, state.status, _name(command)
        )
    if isinstance(command, CallCommand) and command.call_id != state.call_id:
        raise TransitionError("wrong-call", record.agent_id, state.status, _name(command))
    stats = record.stats
    returned: CallReturned | None = None
    match command:
        case Login():
            new, stats = AgentState(Status.AVAILABLE, now), replace(stats, idle_since=now)
        case Logout():
            new = AgentState(Status.OFFLINE, now)
            if state.status is Status.RESERVED:
                returned = _returned(record, "logged-out", now)
        case Pause(reason=reason):
            if not reason.strip():
                raise ValueError("a pause needs a reason")
            new = AgentState(Status.PAUSED, now, reason=reason)
        case Ready() | CancelOffer():
            new = AgentState(Status.AVAILABLE, now)
        case Reserve(call_id=offered, queue=queue):
            new = AgentState(Status.RESERVED, now, call_id=offered, queue=queue)
            offered_in = {**stats.last_offered_in, queue: now}
            stats = replace(stats, last_offered_at=now, last_offered_in=offered_in)
        case Answer():
            new = replace(state, status=Status.ON_CALL, since=now)
            stats = replace(stats, calls_taken=stats.calls_taken + 1)
        case NoAnswer():
            new = AgentState(Status.PAUSED, now, reason=NO_ANSWER_REASON)
            returned = _returned(record, NO_ANSWER_REASON, now)
        case Decline(busy=busy):
            new = AgentState(Status.AVAILABLE, now)
            returned = _returned(record, "busy" if busy else "declined", now)
        case Hangup(wrap_up_seconds=seconds):
            if seconds < 0:
                raise ValueError("wrap-up seconds cannot be negative")
            talk = stats.talk_seconds + state.seconds_in_state(now)
            stats = replace(stats, talk_seconds=talk, idle_since=now)
            new = (
                AgentState(Status.AVAILABLE, now)
                if seconds == 0
                else replace(state, status=Status.WRAP_UP, since=now, wrap_up_until=now + seconds)
            )
        case EndWrapUp():
            if state.wrap_up_until is not None and now < state.wrap_up_until:
                raise TransitionError(
                    "wrap-up-not-over", record.agent_id, state.status, _name(command)
                )
            new = AgentState(Status.AVAILABLE, now)
    changed = AgentStateChanged(
        record.agent_id,
        state.status,
        new.status,
        now,
        new.reason,
        new.call_id or state.call_id,
        new.queue or state.queue,
    )
    events: tuple[Event, ...] = (changed,) if returned is None else (changed, returned)
    return Transition(AgentRecord(record.agent_id, new, stats), events)


def wrap_up_due(state: AgentState, now: float) -> bool:
    """True when the agent is in wrap-up and its time has run out (send :class:`EndWrapUp`)."""
    return state.wrap_up_until is not None and now >= state.wrap_up_until


def _returned(record: AgentRecord, reason: ReturnReason, now: float) -> CallReturned:
    state = record.state
    assert state.call_id is not None and state.queue is not None  # reserved always has both
    exclude = reason in ("declined", "busy")
    return CallReturned(state.call_id, state.queue, record.agent_id, reason, now, exclude)


def _refusal(status: Status, command: Command) -> str:
    """The slug that best tells the agent why ``command`` is refused in ``status``."""
    if isinstance(command, Login):
        return "agent-logged-in"
    if status is Status.OFFLINE:
        return "agent-offline"
    if isinstance(command, Reserve):
        return "agent-not-available"
    if isinstance(command, Answer | NoAnswer | Decline | CancelOffer):
        return "agent-not-ringing"
    if isinstance(command, Hangup):
        return "agent-not-on-call"
    if isinstance(command, EndWrapUp):
        return "agent-not-in-wrap-up"
    if status is Status.ON_CALL:
        return "agent-on-call"
    if status is Status.RESERVED:
        return "agent-ringing"
    return "agent-already-available"  # Ready while available


def _name(command: Command) -> str:
    return type(command).__name__
