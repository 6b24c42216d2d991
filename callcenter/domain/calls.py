"""The record of one call's path through the service.

A supervisor asking "what happened to the call from +4420…" needs the whole story in one place:
when it arrived, what it dialled, which IVR nodes it went through, which digits it pressed,
which queue it chose and how it ended (and where, if the caller gave up). The record is built
from the same events that go to the event log, by pure functions, so the adapter that keeps it
in Redis and the tests agree on its meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How a call ended, in words a contact-centre report uses."""

    IN_PROGRESS = "in-progress"
    QUEUED = "queued"  # waiting in a queue
    CONNECTED = "connected"  # talking to an agent
    ABANDONED = "abandoned"  # the caller hung up before being served
    COMPLETED = "completed"  # the IVR ended the call as designed (e.g. after-hours message)
    TRANSFERRED = "transferred"
    REJECTED = "rejected"  # refused before answer (unknown number, no capacity, outage)
    FAILED = "failed"  # lost to a fault (worker crash, media error)


@dataclass
class NodeVisit:
    node: str
    kind: str
    at: float


@dataclass
class DigitPress:
    digit: str
    at: float
    method: str
    node: str | None


@dataclass
class CallRecord:
    """Everything we know about one call; times are Unix seconds."""

    call_id: str
    caller: str
    caller_name: str
    did: str
    arrived_at: float
    flow: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome = Outcome.IN_PROGRESS
    ended_by: str | None = None  # "caller", "agent", "system"
    end_reason: str | None = None
    end_node: str | None = None  # the IVR node the call was in when it ended
    queue: str | None = None
    queued_at: float | None = None
    priority: int | None = None
    transfer_target: str | None = None
    agent: str | None = None  # the agent who answered
    connected_at: float | None = None
    offers: int = 0  # agents' phones rung for this call (more than 1: RONA, decline…)
    nodes: list[NodeVisit] = field(default_factory=list)
    digits: list[DigitPress] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.ended_at is not None

    @property
    def current_node(self) -> str | None:
        return self.nodes[-1].node if self.nodes else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        ended = self.ended_at
        data["duration"] = None if ended is None else round(ended - self.arrived_at, 3)
        data["wait"] = self.wait_seconds()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        fields = {k: v for k, v in data.items() if k not in ("duration", "wait")}
        fields["outcome"] = Outcome(fields["outcome"])
        fields["nodes"] = [NodeVisit(**n) for n in fields.get("nodes", [])]
        fields["digits"] = [DigitPress(**d) for d in fields.get("digits", [])]
        return cls(**fields)

    def wait_seconds(self) -> float | None:
        """Time in the queue: until an agent answered, else until the end; None if never queued."""
        if self.queued_at is None:
            return None
        end = self.connected_at if self.connected_at is not None else self.ended_at
        return None if end is None else round(end - self.queued_at, 3)

    # --- transitions -------------------------------------------------------------------

    def answer(self, at: float, flow: str) -> None:
        self.answered_at = at
        self.flow = flow

    def enter_node(self, node: str, kind: str, at: float) -> None:
        self.nodes.append(NodeVisit(node, kind, at))

    def press(self, digit: str, method: str, at: float) -> None:
        self.digits.append(DigitPress(digit, at, method, self.current_node))

    def enqueue(self, queue: str, priority: int, at: float) -> None:
        self.queue = queue
        self.priority = priority
        self.queued_at = at
        self.outcome = Outcome.QUEUED

    def offered(self) -> None:
        self.offers += 1

    def connect(self, agent: str, at: float) -> None:
        self.agent = agent
        self.connected_at = at
        self.outcome = Outcome.CONNECTED

    def transfer(self, target: str) -> None:
        """The IVR asked for a transfer: the target is known, the outcome is not yet."""
        self.transfer_target = target

    def transferred(self) -> None:
        """The caller's phone took the transfer (REFER accepted, progress reported)."""
        self.outcome = Outcome.TRANSFERRED

    def reject(self, reason: str, at: float) -> None:
        self._end(Outcome.REJECTED, "system", reason, at)

    def fail(self, reason: str, at: float) -> None:
        if not self.finished:
            self._end(Outcome.FAILED, "system", reason, at)

    def hang_up(self, by: str, reason: str, at: float, ivr_finished: bool) -> None:
        """The call's media ended. Who hung up and where decides the outcome.

        A caller who leaves before the IVR reached a terminal node, while waiting in a queue, or
        while a transfer was still unanswered, abandoned; a call the IVR itself ended
        (after-hours message, goodbye) completed.
        """
        if self.finished:
            return
        if self.outcome == Outcome.TRANSFERRED:
            outcome = Outcome.TRANSFERRED
        elif self.connected_at is not None:
            outcome = Outcome.COMPLETED  # served: whoever hung up
        elif by == "caller" and (
            self.outcome == Outcome.QUEUED
            or not ivr_finished
            or self.answered_at is None
            or self.transfer_target is not None
        ):
            outcome = Outcome.ABANDONED
        else:
            outcome = Outcome.COMPLETED
        self._end(outcome, by, reason, at)

    def _end(self, outcome: Outcome, by: str, reason: str, at: float) -> None:
        self.outcome = outcome
        self.ended_by = by
        self.end_reason = reason
        self.ended_at = at
        self.end_node = self.current_node
