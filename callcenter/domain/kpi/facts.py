"""Event log entries → the few facts KPIs are made of.

The event log (README "Events") tells a call's story step by step; KPIs need only: a call
entered a queue (offered), was answered after a wait, was abandoned after a wait, left the queue
another way, was handled (talk and wrap-up, known when the wrap-up ends), and when each agent
changed state. :class:`FactReader` follows each call and agent across entries to produce them;
it is pure (entries in, facts out) and idempotent on the entry ``id``.

Which entry gives which fact:

- ``call.queued`` → :class:`Queued`; ``call.overflowed`` → :class:`LeftQueue` from the old
  queue, and :class:`Queued` in the new one when it moved to a queue (its wait keeps counting
  from the first entry, as the routing does); ``call.moved`` (a supervisor moved the waiting
  call) likewise, with the reason ``moved``;
- ``call.connected`` → :class:`Answered` with the entry's ``wait``;
- ``call.ended`` while still in a queue → :class:`Abandoned` when the outcome is
  ``abandoned`` (also while an agent's phone rang), else :class:`LeftQueue` (e.g. ``failed``);
- ``call.left_queue`` → :class:`LeftQueue` (hung up by the service after its message);
- ``agent.state`` → :class:`AgentStatus`; and :class:`Handled` when an agent leaves on-call
  without wrap-up, or leaves wrap-up: talk = on-call start → end of the conversation,
  wrap-up = its start → its end. A conversation whose start the reader did not see (it began
  before the entries read) is not counted.

-*- test-case-name: tests.unit.kpi.test_facts -*-
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, TypeAlias

from callcenter.domain.events import LogEntry


@dataclass(frozen=True)
class Queued:
    call_id: str
    queue: str
    at: float


@dataclass(frozen=True)
class Answered:
    call_id: str
    queue: str
    at: float
    wait: float


@dataclass(frozen=True)
class Abandoned:
    call_id: str
    queue: str
    at: float
    wait: float


@dataclass(frozen=True)
class LeftQueue:
    """Left without an agent and without hanging up (overflow, max wait, no agents, fault)."""

    call_id: str
    queue: str
    at: float
    wait: float
    reason: str


@dataclass(frozen=True)
class Handled:
    """An answered call is fully handled: the conversation and its wrap-up are over."""

    call_id: str
    queue: str
    at: float
    talk: float
    wrap_up: float


@dataclass(frozen=True)
class AgentStatus:
    """The agent is in ``status`` (``offline``, ``available``, ...) from ``at``."""

    agent: str
    status: str
    at: float


Fact: TypeAlias = Queued | Answered | Abandoned | LeftQueue | Handled | AgentStatus
QueueFact: TypeAlias = Queued | Answered | Abandoned | LeftQueue | Handled


@dataclass
class _Waiting:
    queue: str
    entered_at: float


@dataclass
class _Work:
    call_id: str
    queue: str
    talk_from: float
    talk: float = 0.0
    wrap_from: float | None = None


class FactReader:
    """Reads entries in log order; remembers what a call or agent is doing in between."""

    def __init__(self, remember_ids: int = 100_000) -> None:
        self._waiting: dict[str, _Waiting] = {}
        self._work: dict[str, _Work] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._remember = remember_ids

    def read(self, entry: LogEntry) -> list[Fact]:
        if entry.id:
            if entry.id in self._seen:
                return []
            self._seen.add(entry.id)
            self._seen_order.append(entry.id)
            if len(self._seen_order) > self._remember:
                self._seen.discard(self._seen_order.popleft())
        reader = _READERS.get(entry.type)
        return [] if reader is None else reader(self, entry)

    # -- calls -----------------------------------------------------------------------------

    def _queued(self, e: LogEntry) -> list[Fact]:
        queue = _text(e.data.get("queue"))
        if queue is None:
            return []
        self._waiting[e.call_id] = _Waiting(queue, e.at)
        return [Queued(e.call_id, queue, e.at)]

    def _overflowed(self, e: LogEntry) -> list[Fact]:
        waiting = self._waiting.pop(e.call_id, None)
        if waiting is None:
            return []
        wait = _number(e.data.get("wait"), e.at - waiting.entered_at)
        default = "moved" if e.type == "call.moved" else "overflow"
        reason = _text(e.data.get("reason")) or default
        facts: list[Fact] = [LeftQueue(e.call_id, waiting.queue, e.at, wait, reason)]
        to_queue = _text(e.data.get("to_queue"))
        if to_queue is not None:
            self._waiting[e.call_id] = _Waiting(to_queue, waiting.entered_at)
            facts.append(Queued(e.call_id, to_queue, e.at))
        return facts

    def _left_queue(self, e: LogEntry) -> list[Fact]:
        waiting = self._waiting.pop(e.call_id, None)
        if waiting is None:
            return []
        wait = _number(e.data.get("wait"), e.at - waiting.entered_at)
        reason = _text(e.data.get("reason")) or "left"
        return [LeftQueue(e.call_id, waiting.queue, e.at, wait, reason)]

    def _connected(self, e: LogEntry) -> list[Fact]:
        waiting = self._waiting.pop(e.call_id, None)
        if waiting is None:
            return []
        wait = _number(e.data.get("wait"), e.at - waiting.entered_at)
        return [Answered(e.call_id, waiting.queue, e.at, wait)]

    def _ended(self, e: LogEntry) -> list[Fact]:
        waiting = self._waiting.pop(e.call_id, None)
        if waiting is None:
            return []
        wait = max(0.0, e.at - waiting.entered_at)
        outcome = _text(e.data.get("outcome")) or "ended"
        if outcome == "abandoned":
            return [Abandoned(e.call_id, waiting.queue, e.at, wait)]
        return [LeftQueue(e.call_id, waiting.queue, e.at, wait, outcome)]

    # -- agents ----------------------------------------------------------------------------

    def _agent_state(self, e: LogEntry) -> list[Fact]:
        agent, status = _text(e.data.get("agent")), _text(e.data.get("status"))
        if agent is None or status is None:
            return []
        at = _number(e.data.get("since"), e.at)
        facts: list[Fact] = [AgentStatus(agent, status, at)]
        previous = _text(e.data.get("previous"))
        call, queue = _text(e.data.get("call")), _text(e.data.get("queue"))
        work = self._work.get(agent)
        if status == "on-call":
            if call is not None and queue is not None:
                self._work[agent] = _Work(call, queue, at)
        elif work is None or work.call_id != call:
            self._work.pop(agent, None)
        elif previous == "on-call" and status == "wrap-up":
            work.talk, work.wrap_from = max(0.0, at - work.talk_from), at
        elif previous == "on-call":  # no wrap-up
            del self._work[agent]
            facts.append(Handled(work.call_id, work.queue, at, max(0.0, at - work.talk_from), 0.0))
        elif previous == "wrap-up" and work.wrap_from is not None:
            del self._work[agent]
            wrap_up = max(0.0, at - work.wrap_from)
            facts.append(Handled(work.call_id, work.queue, at, work.talk, wrap_up))
        return facts


_READERS = {
    "call.queued": FactReader._queued,
    "call.overflowed": FactReader._overflowed,
    "call.moved": FactReader._overflowed,  # by a supervisor (README "Supervisor controls")
    "call.left_queue": FactReader._left_queue,
    "call.connected": FactReader._connected,
    "call.ended": FactReader._ended,
    "agent.state": FactReader._agent_state,
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return max(0.0, default)
    return max(0.0, float(value))
