"""Routing decisions that explain themselves.

``GET /api/routing/explain`` answers two questions: for a call, which agents
were considered and why each was not chosen; for an agent, why it got that
call rather than another. The decisions below carry those answers as plain
frozen data, and :meth:`to_dict` turns them into JSON-ready dicts with a
human ``message`` next to every machine-readable reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Literal, NamedTuple, TypeAlias

from callcenter.domain.routing.agents import Status
from callcenter.domain.routing.eligibility import Barrier
from callcenter.domain.routing.escalation import Requirements
from callcenter.domain.routing.queues import Strategy

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


DecidedBy: TypeAlias = Literal["priority", "weighted-wait", "call-id"]


class AgentKey(NamedTuple):
    """An eligible agent's sort key; the smallest wins (see ``policy``)."""

    primary: float
    idle_since: float
    agent_id: str


class CallKey(NamedTuple):
    """A call's sort key when an agent frees up; the smallest wins (see ``policy``)."""

    rank: float
    call_id: str


@dataclass(frozen=True)
class LostOnScore:
    """An eligible agent ranked behind ``winner`` under ``strategy``."""

    strategy: Strategy
    key: AgentKey
    winner: str
    winner_key: AgentKey
    code: str = field(default="lost-on-score", init=False)

    @property
    def message(self) -> str:
        ours, theirs = self.key, self.winner_key
        if ours.primary != theirs.primary:
            return f"lost on {self.strategy}: {_score_text(self.strategy, ours.primary, theirs)}"
        if ours.idle_since != theirs.idle_since:
            return (
                f"tied on {self.strategy}; {theirs.agent_id} idle longer"
                f" (since {theirs.idle_since:g}, this agent since {ours.idle_since:g})"
            )
        return f"tied on {self.strategy} and idle time; {theirs.agent_id} sorts first by id"


def _score_text(strategy: Strategy, ours: float, theirs: AgentKey) -> str:
    winner, best = theirs.agent_id, theirs.primary
    match strategy:
        case Strategy.LONGEST_IDLE:
            return f"idle since {ours:g}, {winner} idle since {best:g}"
        case Strategy.MOST_SKILLED:
            return f"skill total {-ours:g}, {winner} has {-best:g}"
        case Strategy.ROUND_ROBIN:
            return f"last offered in this queue at {ours:g}, {winner} at {best:g}"
        case Strategy.FEWEST_CALLS:
            return f"{ours:g} calls taken, {winner} {best:g}"
        case Strategy.LEAST_TALK_TIME:
            return f"{ours:g} s talk time, {winner} {best:g} s"


@dataclass(frozen=True)
class LostToCall:
    """An eligible call ranked behind ``winner``; ``decided_by`` says on what."""

    winner: str
    decided_by: DecidedBy
    priority: int
    winner_priority: int
    weighted_wait: float
    winner_weighted_wait: float
    code: str = field(default="lost-to-call", init=False)

    @property
    def message(self) -> str:
        if self.decided_by == "priority":
            return f"priority {self.priority} below {self.winner_priority} of call {self.winner}"
        if self.decided_by == "weighted-wait":
            return (
                f"same priority; weighted wait {self.weighted_wait:g} s below"
                f" {self.winner_weighted_wait:g} s of call {self.winner}"
            )
        return f"tied with call {self.winner}, which sorts first by id"


AgentReason: TypeAlias = Barrier | LostOnScore
CallReason: TypeAlias = Barrier | LostToCall


@dataclass(frozen=True)
class AgentConsidered:
    """One agent weighed for a call: its key if eligible, else why not."""

    agent_id: str
    status: Status
    key: AgentKey | None
    reasons: tuple[AgentReason, ...]

    @property
    def eligible(self) -> bool:
        return self.key is not None


@dataclass(frozen=True)
class AgentDecision:
    """Which agent a call goes to (``agent_id``; None = the call keeps waiting), and why.

    ``considered`` lists the chosen agent first, then the other eligible
    agents best first, then the ineligible ones by id.
    """

    call_id: str
    queue: str
    at: float
    strategy: Strategy
    waited_seconds: float
    requirements: Requirements
    agent_id: str | None
    considered: tuple[AgentConsidered, ...]

    @property
    def summary(self) -> str:
        if self.agent_id is not None:
            return f"call {self.call_id} goes to agent {self.agent_id} by {self.strategy}"
        if not self.considered:
            return f"call {self.call_id} waits: no agent serves queue {self.queue}"
        return f"call {self.call_id} waits: none of {len(self.considered)} agents is eligible"

    def to_dict(self) -> dict[str, JsonValue]:
        return _with_summary(self, self.summary)


@dataclass(frozen=True)
class CallConsidered:
    """One waiting call weighed for an agent: its key if eligible, else why not."""

    call_id: str
    queue: str
    priority: int
    waited_seconds: float
    weight: float
    key: CallKey | None
    reasons: tuple[CallReason, ...]

    @property
    def eligible(self) -> bool:
        return self.key is not None


@dataclass(frozen=True)
class CallDecision:
    """Which waiting call a freed agent takes (``call_id``; None = none), and why.

    ``agent_reasons`` say why the agent can take no call at all (not
    registered, not available); ``considered`` lists the chosen call first,
    then the other eligible calls most urgent first, then the rest by id.
    """

    agent_id: str
    at: float
    call_id: str | None
    agent_reasons: tuple[Barrier, ...]
    considered: tuple[CallConsidered, ...]

    @property
    def summary(self) -> str:
        if self.call_id is not None:
            return f"agent {self.agent_id} takes call {self.call_id}"
        if self.agent_reasons:
            why = "; ".join(reason.message for reason in self.agent_reasons)
            return f"agent {self.agent_id} takes no call: {why}"
        return f"agent {self.agent_id} takes no call: no waiting call it is eligible for"

    def to_dict(self) -> dict[str, JsonValue]:
        return _with_summary(self, self.summary)


Decision: TypeAlias = AgentDecision | CallDecision


def _with_summary(decision: Decision, summary: str) -> dict[str, JsonValue]:
    body = as_json(decision)
    assert isinstance(body, dict)
    return {"summary": summary, **body}


def as_json(value: object) -> JsonValue:
    """JSON-ready form of routing values: dataclasses, keys, mappings, enums.

    Reasons gain their human ``message``; infinities (which JSON cannot
    carry) become None.
    """
    if isinstance(value, AgentKey | CallKey):
        return {name: as_json(item) for name, item in value._asdict().items()}
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: as_json(getattr(value, f.name)) for f in fields(value)}
        message = getattr(value, "message", None)
        if isinstance(message, str):
            out["message"] = message
        return out
    if isinstance(value, Enum):
        return as_json(value.value)
    if isinstance(value, Mapping):
        return {str(key): as_json(item) for key, item in value.items()}
    if isinstance(value, frozenset | set):
        return [as_json(item) for item in sorted(value, key=str)]
    if isinstance(value, tuple | list):
        return [as_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot express {type(value).__name__} as JSON")
