"""The history of one call, computed from its events alone.

Reports, tickets and the call list need one settled record per call, with its queue attempts
and its legs. The event log is the truth; this module turns the events of one call, in the
order the log holds them, into that record. It is a pure function of the events, so a replayed
event, an event arriving late (a recording saved, a wrap-up ending, a disposition) or a
recomputation after a crash all give the same answer as a single pass would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from callcenter.domain.events import LogEntry

FINAL_TYPES = frozenset({"call.ended", "call.rejected", "call.failed"})

# Offer answers that are not a ring-out: how the agent leg ended, by SIP code.
_OFFER_RESULTS = {486: "busy", 600: "busy", 603: "declined", 480: "unreachable", 404: "unreachable"}


@dataclass(frozen=True)
class QueueAttempt:
    """A stay in one queue: from entering it to leaving it (answered, abandoned, moved on)."""

    queue: str
    entered_at: float
    left_at: float | None
    result: str | None  # answered|abandoned|overflowed|moved|left|transferred|failed|None
    agent: str | None
    wait_seconds: float | None


@dataclass(frozen=True)
class Leg:
    """One SIP leg: the caller's, or an agent's phone rung for the call."""

    kind: str  # "caller" | "agent"
    agent: str | None
    started_at: float
    answered_at: float | None
    ended_at: float | None
    result: str | None
    code: int | None


@dataclass(frozen=True)
class CallSummary:
    call_id: str
    caller: str
    caller_name: str
    did: str
    flow: str | None
    arrived_at: float | None
    answered_at: float | None
    ended_at: float | None
    duration: float | None
    outcome: str
    ended_by: str | None  # "caller" | "agent" | "system"
    end_reason: str | None
    ivr_path: tuple[str, ...]
    digits: tuple[str, ...]
    choices: tuple[str, ...]
    queue: str | None
    queues: tuple[str, ...]
    priority: int | None
    wait_seconds: float | None
    agent: str | None
    connected_at: float | None
    talk_seconds: float | None
    hold_seconds: float | None
    wrap_up_seconds: float | None
    after_hours: bool
    recording_url: str | None
    disposition: str | None
    notes: str | None
    attempts: tuple[QueueAttempt, ...]
    legs: tuple[Leg, ...]

    @property
    def finished(self) -> bool:
        """The call itself is over (later events may still add wrap-up, recording...)."""
        return self.ended_at is not None


def history_call_id(event: LogEntry) -> str:
    """The call an event belongs to in the history: its ``call_id``, or for an agent's state
    change the call it names (wrap-up → available carries the call just wrapped up, while
    the agent is tied to no call any more). Empty: the event is about no call."""
    if event.type == "agent.state":
        named = event.data.get("call")
        if isinstance(named, str) and named:
            return named
    return event.call_id


@dataclass
class _Open:
    """An interval being measured (hold, wrap-up)."""

    since: float


@dataclass
class _State:
    call_id: str
    caller: str = ""
    caller_name: str = ""
    did: str = ""
    flow: str | None = None
    arrived_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str = "in-progress"
    ended_by: str | None = None
    end_reason: str | None = None
    path: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    priority: int | None = None
    agent: str | None = None
    connected_at: float | None = None
    talk_ended_at: float | None = None
    hold: float = 0.0
    held: _Open | None = None
    holds: int = 0
    wrap_up: float | None = None
    wrapping: dict[str, _Open] = field(default_factory=dict)
    after_hours: bool = False
    recording_url: str | None = None
    disposition: str | None = None
    notes: str | None = None
    attempts: list[QueueAttempt] = field(default_factory=list)
    agent_legs: list[Leg] = field(default_factory=list)
    caller_code: int | None = None
    failed_reason: str | None = None

    # --- queue attempts ------------------------------------------------------------------

    def open_attempt(self) -> QueueAttempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.result is None else None

    def close_attempt(self, at: float, result: str, agent: str | None = None) -> None:
        attempt = self.open_attempt()
        if attempt is not None:
            self.attempts[-1] = replace(
                attempt,
                left_at=at,
                result=result,
                agent=agent,
                wait_seconds=round(at - attempt.entered_at, 3),
            )

    def enter_queue(self, queue: str, at: float) -> None:
        self.attempts.append(QueueAttempt(queue, at, None, None, None, None))
        if queue not in self.queues:
            self.queues.append(queue)

    # --- agent legs ----------------------------------------------------------------------

    def ringing_leg(self, agent: str) -> int | None:
        for index in range(len(self.agent_legs) - 1, -1, -1):
            leg = self.agent_legs[index]
            if leg.agent == agent and leg.ended_at is None:
                return index
        return None

    def end_leg(self, agent: str, at: float, result: str, code: int | None) -> None:
        index = self.ringing_leg(agent)
        if index is not None:
            self.agent_legs[index] = replace(
                self.agent_legs[index], ended_at=at, result=result, code=code
            )

    def stop_hold(self, at: float) -> None:
        if self.held is not None:
            self.hold += max(0.0, at - self.held.since)
            self.held = None


def summarize(call_id: str, events: Iterable[LogEntry]) -> CallSummary:
    """The summary of ``call_id`` from its events, given in log order."""
    state = _State(call_id)
    for event in events:
        _apply(state, event)
    return _summary(state)


def _apply(s: _State, e: LogEntry) -> None:
    d, at = e.data, e.at
    kind = e.type
    if kind == "call.arrived":
        s.arrived_at = at
        s.caller = str(d.get("caller", ""))
        s.caller_name = str(d.get("caller_name", ""))
        s.did = str(d.get("did", ""))
    elif kind == "call.answered":
        s.answered_at = s.answered_at if s.answered_at is not None else at
        s.flow = _text(d.get("flow")) or s.flow
    elif kind == "ivr.node":
        s.path.append(str(d.get("node", "")))
    elif kind == "ivr.digit":
        s.digits.append(str(d.get("digit", "")))
    elif kind == "ivr.choice":
        s.choices.append(str(d.get("choice", "")))
    elif kind == "ivr.hours":
        if d.get("open") is False:
            s.after_hours = True
    elif kind == "call.queued":
        s.close_attempt(at, "left")  # a second queue node after an overflow into a flow
        s.enter_queue(str(d.get("queue", "")), at)
        priority = d.get("priority")
        s.priority = int(priority) if isinstance(priority, int) else s.priority
    elif kind == "call.overflowed":
        s.close_attempt(at, "overflowed")
        target = d.get("to_queue")
        if isinstance(target, str) and target:
            s.enter_queue(target, at)
    elif kind == "call.moved":  # a supervisor moved the waiting caller (README, Supervisor)
        s.close_attempt(at, "moved")
        target = d.get("to_queue")
        if isinstance(target, str) and target:
            s.enter_queue(target, at)
    elif kind == "call.priority_changed":
        priority = d.get("to_priority")
        s.priority = int(priority) if isinstance(priority, int) else s.priority
    elif kind == "call.left_queue":
        s.close_attempt(at, "left")
    elif kind == "call.offered":
        agent = str(d.get("agent", ""))
        s.agent_legs.append(Leg("agent", agent, at, None, None, None, None))
    elif kind == "call.no_answer":
        s.end_leg(str(d.get("agent", "")), at, "no-answer", _code(d.get("code")))
    elif kind == "call.offer_failed":
        code = _code(d.get("code"))
        result = _OFFER_RESULTS.get(code or 0, "failed")
        s.end_leg(str(d.get("agent", "")), at, result, code)
    elif kind == "call.connected":
        agent = str(d.get("agent", ""))
        s.agent, s.connected_at, s.outcome = agent, at, "connected"
        index = s.ringing_leg(agent)
        if index is None:
            s.agent_legs.append(Leg("agent", agent, at, at, None, None, None))
        else:
            s.agent_legs[index] = replace(s.agent_legs[index], answered_at=at)
        s.close_attempt(at, "answered", agent)
    elif kind == "call.hold":
        if s.held is None:
            s.held = _Open(at)
            s.holds += 1
    elif kind == "call.unhold":
        s.stop_hold(at)
    elif kind == "call.transferring":
        pass
    elif kind == "call.transferred":
        s.outcome = "transferred"
        s.close_attempt(at, "transferred")
    elif kind == "call.transfer_failed":
        code, reason = d.get("code"), str(d.get("reason", ""))
        s.failed_reason = f"transfer failed: {reason if code is None else f'{code} {reason}'}"
    elif kind in FINAL_TYPES:
        _end(s, e)
    elif kind == "agent.state":
        _agent_state(s, e)
    elif kind == "recording.saved":
        s.recording_url = _text(d.get("url")) or f"/api/recordings/{s.call_id}/audio"
    elif kind == "call.disposition":
        s.disposition = _text(d.get("disposition"))
        s.notes = _text(d.get("notes"))


def _end(s: _State, e: LogEntry) -> None:
    if s.ended_at is not None:
        return
    d, at = e.data, e.at
    s.ended_at = at
    if e.type == "call.rejected":
        s.outcome, s.ended_by = "rejected", "system"
        s.end_reason = _text(d.get("reason"))
        s.caller_code = _code(d.get("code"))
    elif e.type == "call.failed":
        s.outcome, s.ended_by = "failed", "system"
        s.end_reason = _text(d.get("reason"))
    else:
        s.outcome = str(d.get("outcome", s.outcome))
        s.ended_by = _text(d.get("by"))
        s.end_reason = _text(d.get("reason")) or s.failed_reason
    attempt_result = "abandoned" if s.ended_by == "caller" else "failed"
    if s.outcome == "transferred":
        attempt_result = "transferred"
    s.close_attempt(at, attempt_result)
    for index, leg in enumerate(s.agent_legs):
        if leg.ended_at is None:  # still ringing (withdrawn) or talking (hung up with us)
            result = "completed" if leg.answered_at is not None else "cancelled"
            s.agent_legs[index] = replace(leg, ended_at=at, result=result)
    if s.connected_at is not None:
        s.talk_ended_at = at
        s.stop_hold(at)


def _agent_state(s: _State, e: LogEntry) -> None:
    """Wrap-up of this call: from the agent entering ``wrap-up`` for it to leaving it."""
    d = e.data
    agent = str(d.get("agent", ""))
    status, previous = d.get("status"), d.get("previous")
    named = d.get("call") or e.call_id
    since = d.get("since")  # the instant the state machine stamped (``at`` is the append)
    at = float(since) if isinstance(since, int | float) and not isinstance(since, bool) else e.at
    if status == "wrap-up" and named == s.call_id:
        s.wrapping[agent] = _Open(at)
    elif previous == "wrap-up" and agent in s.wrapping:
        opened = s.wrapping.pop(agent)
        s.wrap_up = round((s.wrap_up or 0.0) + max(0.0, at - opened.since), 3)


def _summary(s: _State) -> CallSummary:
    talk = None
    if s.connected_at is not None and s.talk_ended_at is not None:
        talk = round(s.talk_ended_at - s.connected_at, 3)
    hold = None if s.connected_at is None else round(s.hold, 3)
    waits = [a.wait_seconds for a in s.attempts if a.wait_seconds is not None]
    wait = round(sum(waits), 3) if s.attempts and len(waits) == len(s.attempts) else None
    duration = None
    if s.ended_at is not None and s.arrived_at is not None:
        duration = round(s.ended_at - s.arrived_at, 3)
    start = s.arrived_at if s.arrived_at is not None else 0.0
    caller_result = None if s.ended_at is None else s.outcome
    caller_leg = Leg("caller", None, start, s.answered_at, s.ended_at, caller_result, s.caller_code)
    return CallSummary(
        call_id=s.call_id,
        caller=s.caller,
        caller_name=s.caller_name,
        did=s.did,
        flow=s.flow,
        arrived_at=s.arrived_at,
        answered_at=s.answered_at,
        ended_at=s.ended_at,
        duration=duration,
        outcome=s.outcome if s.ended_at is not None else _live_outcome(s),
        ended_by=s.ended_by,
        end_reason=s.end_reason,
        ivr_path=tuple(s.path),
        digits=tuple(s.digits),
        choices=tuple(s.choices),
        queue=s.queues[-1] if s.queues else None,
        queues=tuple(s.queues),
        priority=s.priority,
        wait_seconds=wait,
        agent=s.agent,
        connected_at=s.connected_at,
        talk_seconds=talk,
        hold_seconds=hold,
        wrap_up_seconds=s.wrap_up,
        after_hours=s.after_hours,
        recording_url=s.recording_url,
        disposition=s.disposition,
        notes=s.notes,
        attempts=tuple(s.attempts),
        legs=(caller_leg, *s.agent_legs),
    )


def _live_outcome(s: _State) -> str:
    if s.connected_at is not None:
        return "connected"
    if s.open_attempt() is not None:
        return "queued"
    return "in-progress"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _code(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
