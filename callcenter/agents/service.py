"""AgentsService: people change agents' states here (REST API, softphone feature codes).

Every change goes through :meth:`RoutingState.apply`, i.e. the pure state machine inside one
Redis transaction, so the API, the feature codes and the call path share one set of rules and
two controllers on one Redis cannot interleave. What this class adds around it:

- at start, every roster agent is put into Redis: a new agent starts offline, a known one keeps
  its live state (``put_agent`` rewrites only the config), so a restart loses no login or pause;
  supervisors' runtime edits of skills and queues (kept apart in Redis) are applied over the
  configuration, so a restart does not undo them either (precedence in
  :mod:`callcenter.domain.routing.edits`); agents no longer in the roster are removed so that
  routing cannot offer them calls;
- ``edit``/``reset_edits``: a supervisor's change of an agent's skills or queues, in routing at
  once (an available agent is offered a call it has just become eligible for);
- ``on_available(agent_id)`` after a transition that leaves the agent available (login,
  ready), and after an available agent's phone registers: the routing service runs the match
  for it; ``on_events(events)`` with every transition's events (``AgentStateChanged``, and
  ``CallReturned`` when an agent logs out while its phone rings);
- the registrar's ``on_bindings`` hook: a SIP username's latest binding expiry becomes the
  agent's ``registered until`` in routing, so a lapsed phone is never offered a call (routing
  compares that time with now; nothing needs refreshing);
- read views for the API, joining config, live record and the registrar's bindings.

Listeners that fail are logged, not raised: the agent's change is already stored.

-*- test-case-name: tests.integration.agents.test_service -*-
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from callcenter.agents.errors import (
    AgentNotFoundError,
    AgentTokenError,
    AgentTransitionError,
    InvalidPauseReasonError,
)
from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentSnapshot,
    Command,
    Event,
    Login,
    Logout,
    Pause,
    Ready,
    Status,
    Transition,
    TransitionError,
)
from callcenter.domain.routing.agents import CALL_STATES
from callcenter.domain.routing.edits import AgentEdits, EditRequest, Vocabulary, still_valid
from callcenter.roster import Roster
from callcenter.store.registrations import BindingStore
from callcenter.store.routing import RoutingState, UnknownAgentError

log = logging.getLogger(__name__)

#: Longest pause reason accepted (it ends up in events, reports and spoken prompts).
MAX_REASON_LENGTH = 64

AvailableListener = Callable[[str], Awaitable[None] | None]
EventsListener = Callable[[Sequence[Event]], Awaitable[None] | None]


@dataclass(frozen=True)
class AgentView:
    """One agent as the API shows it: who, what state since when, reachable, how busy."""

    id: str
    name: str
    sip_username: str
    skills: Mapping[str, int]
    queues: Sequence[str]
    status: Status
    reason: str | None
    since: float
    seconds_in_state: float
    call_id: str | None
    queue: str | None
    wrap_up_until: float | None
    registered: bool
    calls_taken: int
    talk_seconds: float
    edited: tuple[str, ...] = ()  # fields a supervisor changed at runtime (they beat the config)

    @classmethod
    def of(
        cls,
        agent: Agent,
        record: AgentRecord,
        registered: bool,
        now: float,
        edited: Sequence[str] = (),
    ) -> AgentView:
        state, stats = record.state, record.stats
        return cls(
            id=agent.id,
            name=agent.name,
            sip_username=agent.sip_username,
            skills=dict(agent.skills),
            queues=tuple(agent.queues),
            status=state.status,
            reason=state.reason,
            since=state.since,
            seconds_in_state=round(state.seconds_in_state(now), 3),
            call_id=state.call_id,
            queue=state.queue,
            wrap_up_until=state.wrap_up_until,
            registered=registered,
            calls_taken=stats.calls_taken,
            talk_seconds=round(stats.talk_seconds, 3),
            edited=tuple(edited),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "sip_username": self.sip_username,
            "skills": dict(self.skills),
            "queues": list(self.queues),
            "status": self.status.value,
            "reason": self.reason,
            "since": self.since,
            "seconds_in_state": self.seconds_in_state,
            "call_id": self.call_id,
            "queue": self.queue,
            "wrap_up_until": self.wrap_up_until,
            "registered": self.registered,
            "calls_taken": self.calls_taken,
            "talk_seconds": self.talk_seconds,
            "edited": list(self.edited),
        }


def unknown_token_agents(bound: Iterable[str], roster: Roster) -> list[str]:
    """Agent ids named by ``agent:<id>`` API tokens that the roster does not define."""
    return sorted(set(bound) - set(roster.agents))


class AgentsService:
    """See the module docstring. ``clock`` gives epoch seconds (``time.time``)."""

    def __init__(
        self,
        roster: Roster,
        state: RoutingState,
        bindings: BindingStore,
        clock: Callable[[], float] = time.time,
        *,
        on_available: AvailableListener | None = None,
        on_events: EventsListener | None = None,
    ) -> None:
        self._roster = roster
        self._state = state
        self._bindings = bindings
        self._clock = clock
        self.on_available = on_available
        self.on_events = on_events

    # -- start -----------------------------------------------------------------------------

    async def start(self, token_agents: Iterable[str] = ()) -> None:
        """Put the roster into Redis (keeping live states) and sync registrations.

        ``token_agents``: agent ids of bound API tokens; an unknown one is
        :class:`AgentTokenError` (the service must not start with a token for no one).
        ``configure_queues`` is idempotent, so running it here is safe whoever else does.
        """
        unknown = unknown_token_agents(token_agents, self._roster)
        if unknown:
            raise AgentTokenError(
                "http.tokens: agent:<id> names unknown agent(s) "
                + ", ".join(repr(a) for a in unknown)
            )
        await self._state.configure_queues(self._roster.queues.values())
        now = self._clock()
        kept = await self._state.load_edits(self._roster.agents)
        for agent in self._roster.agents.values():
            edits = kept.get(agent.id)
            if edits is not None:
                valid, dropped = still_valid(edits, self._roster.vocabulary)
                if dropped:
                    log.warning("agent %s: runtime edit partly dropped: %s", agent.id, dropped)
                    await self._state.put_edits(agent.id, valid)
                agent = valid.applied_to(agent)
            await self._state.put_agent(agent, now)
        stored = await self._state.load_agents()
        for agent_id in sorted(set(stored) - set(self._roster.agents)):
            if stored[agent_id].state.status in CALL_STATES:
                log.warning("agent %s is no longer configured but holds a call; kept", agent_id)
                continue
            log.info("agent %s is no longer configured: removed from routing", agent_id)
            await self._state.remove_agent(agent_id)
        for agent in self._roster.agents.values():
            current = await self._bindings.current(agent.sip_username, now)
            until = max((b.expires_at for b in current), default=None)
            await self._state.set_registered(agent.id, until)
        log.info("%d agent(s) loaded", len(self._roster.agents))

    # -- commands --------------------------------------------------------------------------

    async def login(self, agent_id: str) -> AgentView:
        return await self._command(agent_id, Login())

    async def logout(self, agent_id: str) -> AgentView:
        return await self._command(agent_id, Logout())

    async def ready(self, agent_id: str) -> AgentView:
        return await self._command(agent_id, Ready())

    async def pause(self, agent_id: str, reason: str) -> AgentView:
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON_LENGTH or not reason.isprintable():
            raise InvalidPauseReasonError(
                f"a pause reason is 1 to {MAX_REASON_LENGTH} printable characters"
            )
        return await self._command(agent_id, Pause(reason))

    async def apply(self, agent_id: str, command: Command) -> Transition:
        """Apply one command now, tell the listeners, return the transition.

        Raises :class:`AgentNotFoundError` and :class:`AgentTransitionError` (with the
        domain's slug). An agent missing from Redis although configured (Redis lost its
        data) is put back offline first, so the command gets the answer it would at start.
        """
        agent = self._agent(agent_id)
        now = self._clock()
        try:
            try:
                done = await self._state.apply(agent_id, command, now)
            except UnknownAgentError:
                log.warning("agent %s was missing from Redis; restored offline", agent_id)
                edits = (await self._state.load_edits([agent_id])).get(agent_id, AgentEdits())
                await self._state.put_agent(edits.applied_to(agent), now)
                done = await self._state.apply(agent_id, command, now)
        except TransitionError as refused:
            raise AgentTransitionError(refused) from refused
        log.info(
            "agent %s: %s → %s", agent_id, type(command).__name__, done.record.state.status.value
        )
        await self._tell(self.on_events, done.events)
        if done.record.state.status is Status.AVAILABLE:
            await self._tell(self.on_available, agent_id)
        return done

    # -- runtime edits ---------------------------------------------------------------------

    async def edit(self, agent_id: str, request: EditRequest) -> AgentView:
        """A supervisor's change of the agent's skills and/or queues, in routing at once."""
        return await self._edit(agent_id, request.applied)

    async def reset_edits(self, agent_id: str) -> AgentView:
        """Drop every runtime edit: the agent is as configured again."""
        return await self._edit(agent_id, lambda _edits, _current: AgentEdits())

    @property
    def vocabulary(self) -> Vocabulary:
        """Skill and queue names an edit may use."""
        return self._roster.vocabulary

    async def edits(self, agent_id: str) -> tuple[AgentEdits, Agent]:
        """The agent's kept runtime edits, and the agent as the configuration defines it."""
        configured = self._agent(agent_id)
        return (await self._state.load_edits([agent_id])).get(agent_id, AgentEdits()), configured

    async def _edit(
        self, agent_id: str, change: Callable[[AgentEdits, Agent], AgentEdits]
    ) -> AgentView:
        configured = self._agent(agent_id)
        try:
            agent, edits, record = await self._state.edit_agent(configured, change)
        except UnknownAgentError:  # Redis lost its data: restore the agent, then edit
            await self._state.put_agent(configured, self._clock())
            agent, edits, record = await self._state.edit_agent(configured, change)
        log.info(
            "agent %s edited: skills %s, queues %s", agent_id, dict(agent.skills), agent.queues
        )
        if record.state.status is Status.AVAILABLE:
            await self._tell(self.on_available, agent_id)  # it may fit a waiting call now
        now = self._clock()
        registered = bool(await self._bindings.current(agent.sip_username, now))
        return AgentView.of(agent, record, registered, now, edits.fields())

    # -- registrations ---------------------------------------------------------------------

    async def on_bindings(self, aor: str, until: float | None) -> None:
        """The registrar's hook: ``aor`` (a SIP username) is reachable until ``until``."""
        agent = self._roster.agent_by_username(aor)
        if agent is None:
            return
        await self._state.set_registered(agent.id, until)
        if until is None:
            return
        found = await self._state.snapshots([agent.id], self._clock())
        if found and found[0].state.status is Status.AVAILABLE:
            await self._tell(self.on_available, agent.id)  # reachable again: it may get a call

    # -- views -----------------------------------------------------------------------------

    def agent_by_username(self, username: str) -> Agent | None:
        return self._roster.agent_by_username(username)

    async def get(self, agent_id: str) -> AgentView:
        agent = self._agent(agent_id)
        now = self._clock()
        found = await self._state.snapshots([agent_id], now)
        edits = await self._state.load_edits([agent_id])
        registered = bool(await self._bindings.current(agent.sip_username, now))
        return self._view(agent, found[0] if found else None, registered, now, edits)

    async def list_agents(self) -> list[AgentView]:
        now = self._clock()
        ids = sorted(self._roster.agents)
        found = {s.agent.id: s for s in await self._state.snapshots(ids, now)}
        edits = await self._state.load_edits(ids)
        registered = set(await self._bindings.registered(now))
        return [
            self._view(
                self._roster.agents[i],
                found.get(i),
                self._roster.agents[i].sip_username in registered,
                now,
                edits,
            )
            for i in ids
        ]

    def _view(
        self,
        configured: Agent,
        found: AgentSnapshot | None,
        registered: bool,
        now: float,
        edits: Mapping[str, AgentEdits],
    ) -> AgentView:
        """Skills and queues as routing has them (runtime edits in), the rest from config."""
        if found is None:
            return AgentView.of(
                configured, AgentRecord.offline(configured.id, now), registered, now
            )
        kept = edits.get(configured.id)
        edited = kept.fields() if kept is not None else []
        return AgentView.of(found.agent, found.record, registered, now, edited)

    # -- internals -------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> Agent:
        agent = self._roster.agents.get(agent_id)
        if agent is None:
            raise AgentNotFoundError(agent_id)
        return agent

    async def _command(self, agent_id: str, command: Command) -> AgentView:
        """The agent as the command left it (not as a match may have changed it since)."""
        done = await self.apply(agent_id, command)
        view = await self.get(agent_id)
        now = self._clock()
        return AgentView.of(
            replace(self._agent(agent_id), skills=view.skills, queues=view.queues),
            done.record,
            view.registered,
            now,
            view.edited,
        )

    async def _tell(
        self, listener: Callable[[Any], Awaitable[None] | None] | None, arg: Any
    ) -> None:
        if listener is None:
            return
        try:
            result = listener(arg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("agents listener %r failed", listener)
