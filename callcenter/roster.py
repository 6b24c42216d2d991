"""The roster: agents and queues from the configuration, checked against each other.

A typo in a skill or queue name would silently make an agent never eligible, so every name is
checked once at load: agents' and queues' skills must be declared under ``skills`` (when that
list is given), agents' queues must exist, IVR flows may only queue to existing queues, and
SIP usernames must be unique. Each problem is reported with the key that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from callcenter.config import AgentConfig, Config, ConfigError, QueueConfig, SupervisorConfig
from callcenter.domain.ivr.flow import Flow, QueueNode
from callcenter.domain.monitor import Supervisor
from callcenter.domain.routing.agents import Agent
from callcenter.domain.routing.edits import Vocabulary, known_names
from callcenter.domain.routing.errors import RoutingConfigError
from callcenter.domain.routing.queues import EscalationStep, Queue, Strategy


@dataclass(frozen=True)
class Roster:
    agents: dict[str, Agent]
    queues: dict[str, Queue]
    passwords: dict[str, str]  # SIP username → digest password (agents and supervisors)
    supervisors: dict[str, Supervisor] = field(default_factory=dict)  # by id
    #: Skill names a supervisor's runtime edit may use: the config's ``skills`` list, or when
    #: that is not given, every skill the queues and agents name.
    skills: frozenset[str] = frozenset()

    def supervisor_by_username(self, username: str) -> Supervisor | None:
        return next((s for s in self.supervisors.values() if s.sip_username == username), None)

    def agent_by_username(self, username: str) -> Agent | None:
        return next((a for a in self.agents.values() if a.sip_username == username), None)

    @property
    def vocabulary(self) -> Vocabulary:
        """What runtime edits of agents and moves of calls may name."""
        return Vocabulary(self.skills, frozenset(self.queues))

    def password(self, username: str) -> str | None:
        """Credentials lookup for the registrar's digest authentication."""
        return self.passwords.get(username)


def build_roster(config: Config) -> Roster:
    declared = set(config.skills)
    queues = {name: _queue(name, q, declared) for name, q in config.queues.items()}
    agents: dict[str, Agent] = {}
    passwords: dict[str, str] = {}
    for index, entry in enumerate(config.agents):
        where = f"agents[{index}]"
        agent = _agent(entry, where, declared, queues)
        if agent.id in agents:
            raise ConfigError(f"{where}.id: agent {agent.id!r} is defined twice")
        if agent.sip_username in passwords:
            raise ConfigError(f"{where}.sip_username: {agent.sip_username!r} is used twice")
        agents[agent.id] = agent
        passwords[agent.sip_username] = entry.password
    supervisors: dict[str, Supervisor] = {}
    for index, sup in enumerate(config.supervisors):
        where = f"supervisors[{index}]"
        supervisor = _supervisor(sup, where)
        if supervisor.id in supervisors:
            raise ConfigError(f"{where}.id: supervisor {supervisor.id!r} is defined twice")
        if supervisor.sip_username in passwords:
            raise ConfigError(
                f"{where}.sip_username: {supervisor.sip_username!r} is used twice "
                "(agents and supervisors share the SIP usernames)"
            )
        supervisors[supervisor.id] = supervisor
        passwords[supervisor.sip_username] = sup.password
    named = {s for q in queues.values() for s in q.skills}
    named |= {s for q in queues.values() for step in q.escalation for s in step.min_levels}
    named |= {s for a in agents.values() for s in a.skills}
    return Roster(agents, queues, passwords, supervisors, known_names(declared, named))


def _supervisor(entry: SupervisorConfig, where: str) -> Supervisor:
    if not entry.id:
        raise ConfigError(f"{where}.id: every supervisor needs an id")
    if len(entry.password) < 8:
        raise ConfigError(f"{where}.password: use at least 8 characters")
    return Supervisor(entry.id, entry.name or entry.id, entry.sip_username or entry.id)


def check_flow_queues(roster: Roster, flows: Iterable[Flow]) -> list[str]:
    """Queue nodes that name a queue the configuration does not define."""
    problems = []
    for flow in flows:
        for node_id, node in flow.nodes.items():
            if isinstance(node, QueueNode) and node.queue not in roster.queues:
                problems.append(
                    f"{flow.path}: node {node_id!r} queues to {node.queue!r}, "
                    f"which is not under `queues:` in the configuration"
                )
    return problems


def _queue(name: str, entry: QueueConfig, declared: set[str]) -> Queue:
    where = f"queues.{name}"
    _check_declared(entry.skills, declared, f"{where}.skills")
    try:
        strategy = Strategy(entry.strategy)
    except ValueError:
        options = ", ".join(s.value for s in Strategy)
        raise ConfigError(f"{where}.strategy: {entry.strategy!r} is not one of {options}") from None
    steps = []
    for i, step in enumerate(entry.escalation):
        _check_declared(step.min_levels, declared, f"{where}.escalation[{i}].min_levels")
        _check_declared(dict.fromkeys(step.drop, 1), declared, f"{where}.escalation[{i}].drop")
        steps.append(
            EscalationStep(
                after_seconds=step.after_seconds,
                min_levels=dict(step.min_levels),
                drop=frozenset(step.drop),
                lower_by=step.lower_by,
            )
        )
    try:
        return Queue(
            name=name,
            skills=dict(entry.skills),
            strategy=strategy,
            weight=entry.weight,
            wrap_up_seconds=entry.wrap_up_seconds,
            ring_timeout_seconds=entry.ring_timeout_seconds,
            escalation=tuple(steps),
            max_wait_seconds=entry.max_wait_seconds,
            service_level_seconds=entry.service_level_seconds,
        )
    except (RoutingConfigError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _agent(entry: AgentConfig, where: str, declared: set[str], queues: dict[str, Queue]) -> Agent:
    if not entry.id:
        raise ConfigError(f"{where}.id: every agent needs an id")
    if not entry.password:
        raise ConfigError(f"{where}.password: agent {entry.id!r} needs a SIP password")
    if len(entry.password) < 8:
        raise ConfigError(f"{where}.password: use at least 8 characters")
    _check_declared(entry.skills, declared, f"{where}.skills")
    for queue in entry.queues:
        if queue not in queues:
            raise ConfigError(f"{where}.queues: unknown queue {queue!r}")
    try:
        return Agent(
            id=entry.id,
            name=entry.name or entry.id,
            sip_username=entry.sip_username or entry.id,
            skills=dict(entry.skills),
            queues=tuple(entry.queues),
        )
    except (RoutingConfigError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_declared(skills: dict[str, int], declared: set[str], where: str) -> None:
    if not declared:
        return  # no `skills:` list: any name goes
    for skill in skills:
        if skill not in declared:
            raise ConfigError(f"{where}: unknown skill {skill!r} (declare it under `skills:`)")
