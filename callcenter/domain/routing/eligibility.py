"""Whether an agent may take a call, and every reason it may not.

Routing keeps all the reasons, not just the first, because "why is this
caller still waiting" is answered from them: a supervisor wants to see that
an agent is paused *and* lacks the skill, not only that it is paused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from callcenter.domain.routing.agents import AgentSnapshot, Status
from callcenter.domain.routing.escalation import Requirements
from callcenter.domain.routing.queues import Queue, WaitingCall
from callcenter.domain.routing.skills import skill_gaps


@dataclass(frozen=True)
class NotRegistered:
    """The agent has no live SIP registration, so its phone cannot ring."""

    code: str = field(default="not-registered", init=False)

    @property
    def message(self) -> str:
        return "no live SIP registration"


@dataclass(frozen=True)
class NotAvailable:
    """The agent is in ``status`` (since ``since``), not available."""

    status: Status
    since: float
    code: str = field(default="not-available", init=False)

    @property
    def message(self) -> str:
        return f"not available ({self.status} since {self.since:g})"


@dataclass(frozen=True)
class NotInQueue:
    """The agent does not serve ``queue``."""

    queue: str
    code: str = field(default="not-in-queue", init=False)

    @property
    def message(self) -> str:
        return f"not a member of queue {self.queue}"


@dataclass(frozen=True)
class DeclinedRecently:
    """The agent declined this call (or was busy) and is skipped until ``retry_at``."""

    declined_at: float
    retry_at: float
    code: str = field(default="declined", init=False)

    @property
    def message(self) -> str:
        return f"declined this call at {self.declined_at:g}, skipped until {self.retry_at:g}"


@dataclass(frozen=True)
class MissingSkill:
    """The agent holds ``skill`` at ``has`` (0 = not at all) but the call needs ``needs``."""

    skill: str
    has: int
    needs: int
    code: str = field(default="missing-skill", init=False)

    @property
    def message(self) -> str:
        if self.has == 0:
            return f"missing skill {self.skill} (needs {self.needs})"
        return f"skill {self.skill} too low (has {self.has}, needs {self.needs})"


Barrier: TypeAlias = NotRegistered | NotAvailable | NotInQueue | DeclinedRecently | MissingSkill


def presence_barriers(agent: AgentSnapshot) -> tuple[Barrier, ...]:
    """Reasons the agent cannot take any call now: no registration, not available."""
    barriers: list[Barrier] = []
    if not agent.registered:
        barriers.append(NotRegistered())
    if agent.state.status is not Status.AVAILABLE:
        barriers.append(NotAvailable(agent.state.status, agent.state.since))
    return tuple(barriers)


def call_barriers(
    agent: AgentSnapshot,
    call: WaitingCall,
    queue: Queue,
    requirements: Requirements,
    now: float,
) -> tuple[Barrier, ...]:
    """Reasons the agent cannot take this particular call, whatever its state."""
    barriers: list[Barrier] = []
    if queue.name not in agent.agent.queues:
        barriers.append(NotInQueue(queue.name))
    declined_at = call.declined.get(agent.id)
    if declined_at is not None and now < declined_at + queue.decline_retry_seconds:
        barriers.append(DeclinedRecently(declined_at, declined_at + queue.decline_retry_seconds))
    for gap in skill_gaps(agent.agent.skills, requirements.levels):
        barriers.append(MissingSkill(gap.skill, gap.has, gap.needs))
    return tuple(barriers)
