"""What the routing store hands back: claims and explain snapshots.

The snapshots hold exactly the inputs of ``policy.choose_agent`` / ``policy.choose_call``,
so the HTTP layer explains a decision by running the pure reference policy on them instead
of asking the Lua script why (a script that must stay small and fast cannot also narrate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.domain.routing import (
    AgentSnapshot,
    CallDecision,
    Queue,
    WaitingCall,
    choose_agent,
    choose_call,
)
from callcenter.domain.routing.decisions import AgentDecision
from callcenter.domain.routing.errors import RoutingError


class UnknownAgentError(RoutingError):
    """No agent with this id is configured in Redis."""

    error_id = "agent-unknown"

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"unknown agent {agent_id!r}")


@dataclass(frozen=True)
class Match:
    """One atomic claim: ``agent_id`` is now reserved for ``call_id`` of ``queue``."""

    agent_id: str
    call_id: str
    queue: str


@dataclass(frozen=True)
class CallView:
    """A call and every agent serving its queue, read in one transaction."""

    call: WaitingCall
    queue: Queue
    agents: tuple[AgentSnapshot, ...]
    queued: bool
    """False while the call is offered to an agent (it has left its queue's sorted set)."""

    def decide(self, now: float) -> AgentDecision:
        return choose_agent(self.call, self.queue, self.agents, now)


@dataclass(frozen=True)
class AgentView:
    """An agent and the calls waiting in its queues (each queue's head, bounded)."""

    agent: AgentSnapshot
    calls: tuple[WaitingCall, ...]
    queues: Mapping[str, Queue]

    def decide(self, now: float) -> CallDecision:
        return choose_call(self.agent, self.calls, self.queues, now)
