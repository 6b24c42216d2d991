"""Test helpers: agents in a given state, and a tiny in-memory floor.

The floor plays the adapter's part (store records, keep waiting calls, put
returned calls back) with plain dicts, so scenario tests drive the real state
machine and the real policy together on a fake clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from callcenter.domain.routing import (
    Agent,
    AgentDecision,
    AgentRecord,
    AgentSnapshot,
    AgentState,
    AgentStats,
    CallDecision,
    CallReturned,
    Command,
    Event,
    Queue,
    Reserve,
    Status,
    WaitingCall,
    choose_agent,
    choose_call,
    transition,
)

T0 = 10_000.0


def make_agent(
    agent_id: str, skills: Mapping[str, int] | None = None, queues: Sequence[str] = ("support",)
) -> Agent:
    return Agent(agent_id, agent_id.upper(), f"sip-{agent_id}", dict(skills or {}), list(queues))


def snap(
    agent: Agent,
    status: Status = Status.AVAILABLE,
    *,
    since: float = T0,
    idle_since: float = T0,
    calls_taken: int = 0,
    talk_seconds: float = 0.0,
    offered_in: Mapping[str, float] | None = None,
    registered: bool = True,
    reason: str = "lunch",
) -> AgentSnapshot:
    """An agent in ``status`` with the given stats (call states hold call ``busy``)."""
    if status is Status.PAUSED:
        state = AgentState(status, since, reason=reason)
    elif status is Status.WRAP_UP:
        state = AgentState(status, since, call_id="busy", queue="support", wrap_up_until=since + 5)
    elif status in (Status.RESERVED, Status.ON_CALL):
        state = AgentState(status, since, call_id="busy", queue="support")
    else:
        state = AgentState(status, since)
    stats = AgentStats(
        idle_since=idle_since,
        calls_taken=calls_taken,
        talk_seconds=talk_seconds,
        last_offered_in=dict(offered_in or {}),
    )
    return AgentSnapshot(agent, AgentRecord(agent.id, state, stats), registered)


def call(
    call_id: str,
    queue: str = "support",
    *,
    priority: int = 0,
    entered_at: float = T0,
    skills: Mapping[str, int] | None = None,
) -> WaitingCall:
    return WaitingCall(call_id, queue, priority, entered_at, dict(skills or {}))


@dataclass
class Floor:
    """Agents, queues and waiting calls in memory, changed only through the domain."""

    queues: dict[str, Queue]
    agents: dict[str, Agent] = field(default_factory=dict)
    records: dict[str, AgentRecord] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    waiting: dict[str, WaitingCall] = field(default_factory=dict)
    offered: dict[str, WaitingCall] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def hire(self, agent: Agent, now: float, *, registered: bool = True) -> None:
        self.agents[agent.id] = agent
        self.records[agent.id] = AgentRecord.offline(agent.id, now)
        if registered:
            self.registered.add(agent.id)

    def do(self, agent_id: str, command: Command, now: float) -> None:
        result = transition(self.records[agent_id], command, now)
        self.records[agent_id] = result.record
        self.events.extend(result.events)
        for event in result.events:
            if isinstance(event, CallReturned):
                returned = self.offered.pop(event.call_id)
                if event.exclude_agent:
                    returned = returned.with_decline(event.agent_id, event.at)
                self.waiting[event.call_id] = returned

    def status(self, agent_id: str) -> Status:
        return self.records[agent_id].state.status

    def snapshots(self) -> list[AgentSnapshot]:
        return [
            AgentSnapshot(agent, self.records[agent.id], agent.id in self.registered)
            for agent in self.agents.values()
        ]

    def arrive(self, waiting: WaitingCall) -> None:
        self.waiting[waiting.call_id] = waiting

    def route(self, call_id: str, now: float) -> AgentDecision:
        """Offer a waiting call to the agent the policy picks, if any."""
        waiting = self.waiting[call_id]
        decision = choose_agent(waiting, self.queues[waiting.queue], self.snapshots(), now)
        if decision.agent_id is not None:
            self._offer(decision.agent_id, waiting, now)
        return decision

    def free(self, agent_id: str, now: float) -> CallDecision:
        """Offer the agent the most urgent call of its queues, if any."""
        agent = self.agents[agent_id]
        mine = [c for c in self.waiting.values() if c.queue in agent.queues]
        snapshot = AgentSnapshot(agent, self.records[agent_id], agent_id in self.registered)
        decision = choose_call(snapshot, mine, self.queues, now)
        if decision.call_id is not None:
            self._offer(agent_id, self.waiting[decision.call_id], now)
        return decision

    def _offer(self, agent_id: str, waiting: WaitingCall, now: float) -> None:
        self.do(agent_id, Reserve(waiting.call_id, waiting.queue), now)
        self.offered[waiting.call_id] = self.waiting.pop(waiting.call_id)
