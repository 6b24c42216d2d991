"""Agents as routing sees them: who they are, what state they are in, how busy they were.

Three pieces with different lifetimes:

- :class:`Agent` is configuration (skills, queues); it changes through the
  config file or the REST API. The SIP password is the registrar's business
  and is not here.
- :class:`AgentRecord` is the live part kept in Redis: the
  :class:`AgentState` and the :class:`AgentStats` that strategies rank on.
  It changes only through :func:`callcenter.domain.routing.transitions.transition`.
- :class:`AgentSnapshot` joins both with the registrar's answer ("has a live
  binding") at the moment a routing decision is taken.

All times are seconds on the caller's clock (epoch seconds in production, a
fake clock in tests); nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from callcenter.domain.routing.errors import RoutingConfigError
from callcenter.domain.routing.skills import checked_levels


class Status(StrEnum):
    """The six agent states of DESIGN.md's routing model."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    PAUSED = "paused"


#: States that hold a call: ``call_id`` and ``queue`` are set in them.
CALL_STATES = frozenset({Status.RESERVED, Status.ON_CALL, Status.WRAP_UP})


@dataclass(frozen=True)
class Agent:
    """An agent's configuration: identity, skills with levels 1-10, queues served."""

    id: str
    name: str
    sip_username: str
    skills: Mapping[str, int] = field(default_factory=dict)
    queues: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise RoutingConfigError("an agent needs a non-empty id")
        levels = checked_levels(self.skills, f"agent {self.id}")
        object.__setattr__(self, "skills", MappingProxyType(levels))
        queues = tuple(self.queues)
        if len(set(queues)) != len(queues):
            raise RoutingConfigError(f"agent {self.id}: a queue is listed twice")
        object.__setattr__(self, "queues", queues)


@dataclass(frozen=True)
class AgentState:
    """Where an agent is now and since when.

    ``reason`` is set only when paused; ``call_id`` and ``queue`` only in
    :data:`CALL_STATES` (in wrap-up they name the call just finished);
    ``wrap_up_until`` only in wrap-up. The checks make an impossible state
    unrepresentable, so a corrupt Redis record fails loudly on load.
    """

    status: Status
    since: float
    reason: str | None = None
    call_id: str | None = None
    queue: str | None = None
    wrap_up_until: float | None = None

    def __post_init__(self) -> None:
        paused = self.status is Status.PAUSED
        if paused != (self.reason is not None) or (paused and not self.reason):
            raise ValueError("a reason is given exactly when the agent is paused")
        holds_call = self.status in CALL_STATES
        if holds_call != (self.call_id is not None) or holds_call != (self.queue is not None):
            raise ValueError(f"call_id and queue are given exactly in {sorted(CALL_STATES)}")
        if (self.status is Status.WRAP_UP) != (self.wrap_up_until is not None):
            raise ValueError("wrap_up_until is given exactly in wrap-up")

    def seconds_in_state(self, now: float) -> float:
        """Time in the current state; never negative even if clocks disagree."""
        return max(0.0, now - self.since)


@dataclass(frozen=True)
class AgentStats:
    """What the routing strategies rank agents on.

    ``idle_since`` is when the agent's last call ended, or when it logged in
    if it has had no call since; longest-idle ranks on it. Pausing does not
    move it (a paused agent keeps its place). ``last_offered_in`` is per queue
    so round-robin rotates within each queue. ``0.0`` means "never".
    ``calls_taken`` and ``talk_seconds`` count since :meth:`new_day`.
    """

    idle_since: float = 0.0
    calls_taken: int = 0
    talk_seconds: float = 0.0
    last_offered_at: float = 0.0
    last_offered_in: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_offered_in", MappingProxyType(dict(self.last_offered_in)))

    def offered_in(self, queue: str) -> float:
        """When this agent was last offered a call of ``queue`` (0.0 = never)."""
        return self.last_offered_in.get(queue, 0.0)

    def new_day(self) -> AgentStats:
        """Stats with the daily counters cleared; the adapter calls this at local midnight."""
        return replace(self, calls_taken=0, talk_seconds=0.0)


@dataclass(frozen=True)
class AgentRecord:
    """The live part of an agent that is stored and survives a restart."""

    agent_id: str
    state: AgentState
    stats: AgentStats = field(default_factory=AgentStats)

    @classmethod
    def offline(cls, agent_id: str, since: float) -> AgentRecord:
        """A freshly configured agent: logged out, no history."""
        return cls(agent_id, AgentState(Status.OFFLINE, since))


@dataclass(frozen=True)
class AgentSnapshot:
    """Everything routing needs about one agent at decision time.

    ``registered`` is true while the agent has at least one live SIP binding;
    an agent whose registration lapsed is never offered a call.
    """

    agent: Agent
    record: AgentRecord
    registered: bool

    def __post_init__(self) -> None:
        if self.agent.id != self.record.agent_id:
            raise ValueError(f"record of {self.record.agent_id} given for agent {self.agent.id}")

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def state(self) -> AgentState:
        return self.record.state

    @property
    def stats(self) -> AgentStats:
        return self.record.stats
