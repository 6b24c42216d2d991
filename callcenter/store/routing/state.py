"""Live routing state in Redis: agents, waiting calls, and the atomic match.

Two kinds of write, each atomic against other controllers on the same Redis:

- **Agent transitions** (login, pause, answer, hang-up, ...) run the pure
  :func:`~callcenter.domain.routing.transition` inside ``WATCH``/``MULTI``: the agent's keys
  are watched, the record read, the rules applied in Python, and the new record, the
  available-set membership and any returned call written in one transaction. If anything
  watched changed meanwhile (another controller's transition, or a Lua claim reserving the
  agent), ``EXEC`` fails and the attempt is repeated on fresh data. The rules therefore live
  only in the domain module; a Lua copy of the state machine could drift from it.
- **Matches** (claim an agent and dequeue a call) are one Lua script each, since they read
  dozens of keys to choose and must not let another controller claim between the choice
  and the write. A script runs alone on the server, so no agent gets two calls and no call
  two agents. The script replays the policy's eligibility and ordering (see the
  :mod:`policy <callcenter.domain.routing.policy>` docstring), including escalation, which
  it computes from the queue config stored here: a call's requirements depend on its own
  IVR skills and wait, so they cannot be passed in per queue for :meth:`match_agent`.

Every agent state change, whichever write made it, is told to ``on_state_change`` (an
:class:`AgentStateChanged`) once its write succeeded: the ``agent.state`` events of the event
log come from here, so none is missed (a Lua claim reserving an agent is one too).

Invariant kept by both: an agent is in ``rq-available:<q>`` exactly when its record says
``available`` and ``q`` is one of its queues; the score is its strategy's primary key.
Registration is not part of the invariant (it lapses with time): the scripts test it.

-*- test-case-name: tests.integration.store.test_routing_state -*-
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentSnapshot,
    AgentStateChanged,
    Answer,
    CallReturned,
    Command,
    Queue,
    Reserve,
    RoutingConfigError,
    Status,
    Transition,
    WaitingCall,
    agent_sort_key,
    transition,
)
from callcenter.domain.routing.edits import AgentEdits
from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.registrations import StoreConflictError
from callcenter.store.routing.codec import (
    DECLINED,
    call_fields,
    config_fields,
    decode_agent,
    decode_call,
    decode_edits,
    decode_record,
    edits_fields,
    num,
    queue_fields,
    record_fields,
)
from callcenter.store.routing.scripts import Scripts
from callcenter.store.routing.views import AgentView, CallView, Match, UnknownAgentError

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Told of every agent state change after it is stored (e.g. to append ``agent.state``).
StateListener = Callable[[AgentStateChanged], None]

#: Calls read per queue by match_agent (and per queue by agent_view) from the head.
WALK_LIMIT = 50
#: Available agents fetched per ZRANGE page by match_call.
CANDIDATE_PAGE = 64


class RoutingState:
    """Agents, queues and matches in Redis. Every method is a coroutine that talks to Redis.

    ``configure_queues`` must run first (each controller runs it with its config at start):
    the queues' strategies decide the available-set scores and the scripts read their
    eligibility and escalation rules from Redis.
    """

    def __init__(
        self,
        link: RedisLink,
        max_attempts: int = 50,
        on_state_change: StateListener | None = None,
    ) -> None:
        self._link = link
        self.on_state_change = on_state_change
        self._scripts = Scripts.register(link.client)
        self._queues: dict[str, Queue] = {}
        self._max_attempts = max_attempts

    @property
    def queues(self) -> Mapping[str, Queue]:
        return self._queues

    # -- configuration -------------------------------------------------------------------

    async def configure_queues(self, queues: Iterable[Queue]) -> None:
        """Store the queues' routing config and re-score their available agents."""
        configured = {queue.name: queue for queue in queues}
        self._queues = configured

        async def write(client: redis.Redis) -> set[str]:
            async with client.pipeline(transaction=True) as pipe:
                for queue in configured.values():
                    pipe.sadd(keys.ROUTING_QUEUES, queue.name)
                    pipe.delete(keys.routing_queue(queue.name))
                    pipe.hset(keys.routing_queue(queue.name), mapping=_m(queue_fields(queue)))
                    pipe.smembers(keys.queue_members(queue.name))
                results = await pipe.execute()
            return {str(m) for members in results[3::4] for m in members}

        for agent_id in sorted(await self._link.read(write)):
            with contextlib.suppress(UnknownAgentError):  # removed meanwhile
                await self._update_agent(agent_id, None, None)

    async def put_agent(self, agent: Agent, now: float) -> AgentRecord:
        """Store an agent's config (new, or changed skills/queues); keep its live record.

        A new agent starts offline. Changing the queues moves the agent between available
        sets at once, in the same transaction.
        """
        unknown = sorted(set(agent.queues) - set(self._queues))
        if unknown:
            raise RoutingConfigError(f"agent {agent.id}: unknown queue(s) {', '.join(unknown)}")
        return (await self._update_agent(agent.id, agent, None, now)).record

    async def remove_agent(self, agent_id: str) -> bool:
        """Forget an agent (config, record, memberships); False if it was not there."""

        async def attempt(pipe: Pipeline) -> bool:
            old = await _read_agent(pipe, agent_id)
            pipe.multi()  # type: ignore[no-untyped-call]
            if old is None:
                return False
            agent, _ = old
            pipe.srem(keys.AGENTS, agent_id)
            pipe.zrem(keys.AGENTS_REGISTERED, agent_id)
            pipe.delete(
                keys.agent(agent_id),
                keys.agent_config(agent_id),
                keys.agent_skills(agent_id),
                keys.agent_edits(agent_id),
            )
            for queue in agent.queues:
                pipe.srem(keys.queue_members(queue), agent_id)
                pipe.zrem(keys.queue_available(queue), agent_id)
            return True

        return await self._watching(_agent_keys(agent_id), attempt)

    async def load_edits(self, agent_ids: Iterable[str]) -> dict[str, AgentEdits]:
        """Supervisors' runtime edits of these agents (agents without any are left out)."""
        ids = list(agent_ids)

        async def read(client: redis.Redis) -> list[Any]:
            async with client.pipeline(transaction=True) as pipe:
                for agent_id in ids:
                    pipe.hgetall(keys.agent_edits(agent_id))
                return list(await pipe.execute())

        raws = await self._link.read(read)
        return {i: decode_edits(_text(raw)) for i, raw in zip(ids, raws, strict=True) if raw}

    async def put_edits(self, agent_id: str, edits: AgentEdits) -> None:
        """Replace an agent's kept edits as given (the start-up clean-up of stale names)."""

        async def write(client: redis.Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(keys.agent_edits(agent_id))
                if not edits.empty:
                    pipe.hset(keys.agent_edits(agent_id), mapping=_m(edits_fields(edits)))
                await pipe.execute()

        await self._link.read(write)

    async def edit_agent(
        self,
        configured: Agent,
        change: Callable[[AgentEdits, Agent], AgentEdits],
    ) -> tuple[Agent, AgentEdits, AgentRecord]:
        """Change an agent's runtime edits and apply them to routing in one transaction.

        ``change(edits, current)`` gets the kept edits and the agent as routing has it, and
        returns the new edits; the agent routing uses becomes ``configured`` with them, moved
        between available sets and re-scored at once. Two supervisors editing one agent at once
        are serialised (WATCH), so neither change is lost.
        """
        agent_id = configured.id
        edits_key = keys.agent_edits(agent_id)

        async def attempt(pipe: Pipeline) -> tuple[Agent, AgentEdits, AgentRecord]:
            old = await _read_agent(pipe, agent_id)
            raw = _text(await pipe.hgetall(edits_key))
            if old is None:
                raise UnknownAgentError(agent_id)
            current, record = old
            edits = change(decode_edits(raw), current)
            agent = edits.applied_to(configured)
            unknown = sorted(set(agent.queues) - set(self._queues))
            if unknown:
                raise RoutingConfigError(f"agent {agent_id}: unknown queue(s) {', '.join(unknown)}")
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(edits_key)
            if not edits.empty:
                pipe.hset(edits_key, mapping=_m(edits_fields(edits)))
            self._write_config(pipe, agent, current.queues)
            self._index(pipe, agent, record, current.queues)
            return agent, edits, record

        return await self._watching([*_agent_keys(agent_id), edits_key], attempt)

    async def members(self, queue: str) -> list[str]:
        """Ids of the agents serving ``queue`` now (runtime edits included)."""
        found = await self._link.read(lambda c: c.smembers(keys.queue_members(queue)))
        return sorted(str(m) for m in found)

    async def set_registered(self, agent_id: str, until_ts: float | None) -> None:
        """The registrar's word: the agent's phone is reachable until ``until_ts`` (None = not)."""
        if until_ts is None:
            await self._link.read(lambda c: c.zrem(keys.AGENTS_REGISTERED, agent_id))
        else:
            await self._link.read(lambda c: c.zadd(keys.AGENTS_REGISTERED, {agent_id: until_ts}))

    # -- agents ----------------------------------------------------------------------------

    async def apply(self, agent_id: str, command: Command, now: float) -> Transition:
        """Apply a state-machine command atomically; raises ``TransitionError`` if refused.

        Side effects that belong to the same instant are in the same transaction: a call
        returned by RONA, decline or logout goes back to the head of its queue (recording the
        decline), an answered call's waiting entry is dropped, a ``Reserve`` issued here
        (rather than by a match script) takes the call out of its queue.
        """
        done = (await self._update_agent(agent_id, None, command, now)).transition
        for event in done.events:
            if isinstance(event, AgentStateChanged):
                self._changed(event)
        return done

    async def store_record(self, record: AgentRecord) -> None:
        """Write a record as given (the daily ``new_day`` reset, imports, tests), re-indexed.

        Bypasses the state machine, so it is not for routine changes; use :meth:`apply`.
        """
        await self._update_agent(record.agent_id, None, None, record.state.since, record)

    async def load_agents(self) -> dict[str, AgentRecord]:
        """Every agent's live record, as stored (what a restarted controller resumes from)."""

        async def read(client: redis.Redis) -> dict[str, AgentRecord]:
            ids = sorted(str(i) for i in await client.smembers(keys.AGENTS))
            async with client.pipeline(transaction=True) as pipe:
                for agent_id in ids:
                    pipe.hgetall(keys.agent(agent_id))
                raws = await pipe.execute()
            return {i: decode_record(i, raw) for i, raw in zip(ids, raws, strict=True) if raw}

        return await self._link.read(read)

    async def snapshots(self, agent_ids: Iterable[str], now: float) -> list[AgentSnapshot]:
        """Config, record and registration of each agent, read in one transaction."""
        ids = list(agent_ids)

        async def read(client: redis.Redis) -> list[AgentSnapshot]:
            async with client.pipeline(transaction=True) as pipe:
                for agent_id in ids:
                    pipe.hgetall(keys.agent(agent_id))
                    pipe.hgetall(keys.agent_config(agent_id))
                    pipe.hgetall(keys.agent_skills(agent_id))
                    pipe.zscore(keys.AGENTS_REGISTERED, agent_id)
                rows = await pipe.execute()
            out = []
            for n, agent_id in enumerate(ids):
                record, config, skills, until = rows[4 * n : 4 * n + 4]
                if not record or not config:
                    continue
                out.append(
                    AgentSnapshot(
                        decode_agent(agent_id, config, skills),
                        decode_record(agent_id, record),
                        until is not None and float(until) > now,
                    )
                )
            return out

        return await self._link.read(read)

    # -- waiting calls ---------------------------------------------------------------------

    async def enqueue(self, call: WaitingCall) -> None:
        """Queue a call (or move it to ``call.queue``), replacing what was stored for it."""
        if call.queue not in self._queues:
            raise RoutingConfigError(f"call {call.call_id}: unknown queue {call.queue}")
        fields = call_fields(call)
        flat = [item for pair in fields.items() for item in pair]
        args = [keys.PREFIX, call.call_id, call.queue, fields["score"], *flat]
        await self._link.read(lambda c: self._scripts.enqueue(args=args))

    async def remove(self, call_id: str) -> WaitingCall | None:
        """The call leaves routing (abandoned, answered elsewhere, overflowed); what it was."""
        flat = await self._link.read(
            lambda c: self._scripts.remove_call(args=[keys.PREFIX, call_id])
        )
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return decode_call(call_id, fields) if fields else None

    async def requeue_at_head(
        self, call_id: str, declined_by: str | None = None, at: float = 0.0
    ) -> bool:
        """Put an offered call back with its original score (head of its priority band).

        ``declined_by`` records a decline at ``at`` so that agent is skipped for the queue's
        ``decline_retry_seconds``. False if the call is gone. :meth:`apply` does this by
        itself for RONA, decline and logout; this is for offers that fail outside an agent
        transition (the dial to the agent failed before it rang).
        """
        args = [keys.PREFIX, call_id, declined_by or "", num(at)]
        done = await self._link.read(lambda c: self._scripts.requeue_call(args=args))
        return bool(done)

    async def get_call(self, call_id: str) -> WaitingCall | None:
        raw = await self._link.read(lambda c: c.hgetall(keys.waiting_call(call_id)))
        return decode_call(call_id, _text(raw)) if raw else None

    async def position(self, call_id: str) -> int | None:
        """1-based place in its queue; None when not queued (gone, or ringing an agent)."""
        queue = await self._link.read(lambda c: c.hget(keys.waiting_call(call_id), "queue"))
        if queue is None:
            return None
        rank = await self._link.read(lambda c: c.zrank(keys.queue_waiting(str(queue)), call_id))
        return None if rank is None else int(str(rank)) + 1

    async def waiting(self, queue: str, limit: int | None = None) -> list[WaitingCall]:
        """Calls queued in ``queue``, head first (at most ``limit``)."""

        async def read(client: redis.Redis) -> list[WaitingCall]:
            stop = -1 if limit is None else limit - 1
            ids = [str(i) for i in await client.zrange(keys.queue_waiting(queue), 0, stop)]
            return await _calls(client, ids)

        return await self._link.read(read)

    # -- matching --------------------------------------------------------------------------

    async def match_call(self, call_id: str, now: float) -> Match | None:
        """Claim the best eligible available agent for a queued call, or None."""
        args: list[str | int] = [keys.PREFIX, call_id, num(now), CANDIDATE_PAGE]
        found = await self._link.read(lambda c: self._scripts.match_call(args=args))
        if found is None:
            return None
        agent_id, queue = found
        return self._claimed(Match(str(agent_id), call_id, str(queue)), now)

    async def match_agent(self, agent_id: str, now: float, limit: int = WALK_LIMIT) -> Match | None:
        """Claim the most urgent call across the agent's queues for a free agent, or None."""
        args: list[str | int] = [keys.PREFIX, agent_id, num(now), limit]
        found = await self._link.read(lambda c: self._scripts.match_agent(args=args))
        if found is None:
            return None
        call_id, queue = found
        return self._claimed(Match(agent_id, str(call_id), str(queue)), now)

    # -- explain ---------------------------------------------------------------------------

    async def call_view(self, call_id: str, now: float) -> CallView | None:
        """Inputs of ``choose_agent`` for a call: it, its queue, and its queue's agents."""
        call = await self.get_call(call_id)
        if call is None or call.queue not in self._queues:
            return None

        async def read(client: redis.Redis) -> tuple[list[str], bool]:
            async with client.pipeline(transaction=True) as pipe:
                pipe.smembers(keys.queue_members(call.queue))
                pipe.zscore(keys.queue_waiting(call.queue), call_id)
                members, score = await pipe.execute()
            return sorted(str(m) for m in members), score is not None

        members, queued = await self._link.read(read)
        agents = await self.snapshots(members, now)
        return CallView(call, self._queues[call.queue], tuple(agents), queued)

    async def agent_view(
        self, agent_id: str, now: float, limit: int = WALK_LIMIT
    ) -> AgentView | None:
        """Inputs of ``choose_call`` for an agent: it and the heads of its queues."""
        found = await self.snapshots([agent_id], now)
        if not found:
            return None
        agent = found[0]
        queues = {q: self._queues[q] for q in agent.agent.queues if q in self._queues}

        async def read(client: redis.Redis) -> list[WaitingCall]:
            async with client.pipeline(transaction=True) as pipe:
                for queue in queues:
                    pipe.zrange(keys.queue_waiting(queue), 0, limit - 1)
                heads = await pipe.execute()
            return await _calls(client, [str(i) for ids in heads for i in ids])

        calls = await self._link.read(read)
        return AgentView(agent, tuple(calls), queues)

    # -- internals -------------------------------------------------------------------------

    def _claimed(self, match: Match, now: float) -> Match:
        """A Lua claim is ``transitions.Reserve`` (accepted only from available): tell it."""
        self._changed(
            AgentStateChanged(
                match.agent_id,
                Status.AVAILABLE,
                Status.RESERVED,
                now,
                None,
                match.call_id,
                match.queue,
            )
        )
        return match

    def _changed(self, event: AgentStateChanged) -> None:
        if self.on_state_change is None:
            return
        try:
            self.on_state_change(event)
        except Exception:  # the change is stored; a listener's fault must not undo the caller
            log.exception("agent state listener failed for %s", event.agent_id)

    async def _update_agent(
        self,
        agent_id: str,
        config: Agent | None,
        command: Command | None,
        now: float = 0.0,
        replace: AgentRecord | None = None,
    ) -> _Updated:
        """One WATCH/MULTI round over an agent: new config and/or a command, then re-index."""

        async def attempt(pipe: Pipeline) -> _Updated:
            old = await _read_agent(pipe, agent_id)
            if old is None and config is None:
                raise UnknownAgentError(agent_id)
            old_queues: tuple[str, ...] = () if old is None else tuple(old[0].queues)
            agent = config if config is not None else old[0] if old is not None else None
            assert agent is not None
            record = AgentRecord.offline(agent_id, now) if old is None else old[1]
            done = Transition(record if replace is None else replace, ())
            if command is not None:
                done = transition(record, command, now)
            returned = [e for e in done.events if isinstance(e, CallReturned)]
            scores: dict[str, str | None] = {}
            for event in returned:
                await pipe.watch(keys.waiting_call(event.call_id))
                score = await pipe.hget(keys.waiting_call(event.call_id), "score")
                scores[event.call_id] = None if score is None else str(score)
            pipe.multi()  # type: ignore[no-untyped-call]
            if config is not None:
                self._write_config(pipe, config, old_queues)
            if old is None or command is not None or replace is not None:
                pipe.delete(keys.agent(agent_id))
                pipe.hset(keys.agent(agent_id), mapping=_m(record_fields(done.record)))
            self._index(pipe, agent, done.record, old_queues)
            for event in returned:
                _requeue(pipe, event, scores[event.call_id])
            _claim_side_effects(pipe, agent_id, record, command)
            return _Updated(done)

        return await self._watching(_agent_keys(agent_id), attempt)

    async def _watching(self, watched: list[str], attempt: Callable[[Pipeline], Awaitable[T]]) -> T:
        """Run ``attempt`` under WATCH until its MULTI executes; retried on a conflict."""

        async def run(client: redis.Redis) -> T:
            for _ in range(self._max_attempts):
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(*watched)
                        result = await attempt(pipe)
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue
            raise StoreConflictError(f"routing keys {watched[0]} kept changing; update abandoned")

        return await self._link.read(run)

    def _write_config(self, pipe: Pipeline, agent: Agent, old_queues: Iterable[str]) -> None:
        pipe.sadd(keys.AGENTS, agent.id)
        pipe.delete(keys.agent_config(agent.id), keys.agent_skills(agent.id))
        pipe.hset(keys.agent_config(agent.id), mapping=_m(config_fields(agent)))
        if agent.skills:
            skills = {skill: str(level) for skill, level in agent.skills.items()}
            pipe.hset(keys.agent_skills(agent.id), mapping=_m(skills))
        for queue in set(old_queues) - set(agent.queues):
            pipe.srem(keys.queue_members(queue), agent.id)
        for queue in agent.queues:
            pipe.sadd(keys.queue_members(queue), agent.id)

    def _index(
        self, pipe: Pipeline, agent: Agent, record: AgentRecord, old_queues: Iterable[str]
    ) -> None:
        """Put the agent in exactly the available sets its record and queues call for."""
        for queue in set(old_queues) | set(agent.queues):
            pipe.zrem(keys.queue_available(queue), agent.id)
        if record.state.status is not Status.AVAILABLE:
            return
        for name in agent.queues:
            config = self._queues.get(name)
            if config is None:
                continue
            key = agent_sort_key(agent, record.stats, config.strategy, name, config.skills)
            pipe.zadd(keys.queue_available(name), {agent.id: key.primary})


class _Updated:
    """What one agent update produced (a class so mypy sees one return type)."""

    def __init__(self, transition: Transition) -> None:
        self.transition = transition

    @property
    def record(self) -> AgentRecord:
        return self.transition.record


def _agent_keys(agent_id: str) -> list[str]:
    return [keys.agent(agent_id), keys.agent_config(agent_id), keys.agent_skills(agent_id)]


async def _read_agent(pipe: Pipeline, agent_id: str) -> tuple[Agent, AgentRecord] | None:
    """The agent's config and record (watched by the caller), None if not configured."""
    raw = _text(await pipe.hgetall(keys.agent(agent_id)))
    config = _text(await pipe.hgetall(keys.agent_config(agent_id)))
    skills = _text(await pipe.hgetall(keys.agent_skills(agent_id)))
    if not raw or not config:
        return None
    return decode_agent(agent_id, config, skills), decode_record(agent_id, raw)


def _requeue(pipe: Pipeline, event: CallReturned, score: str | None) -> None:
    """The returned call goes back at its old score; nothing if the caller hung up."""
    if score is None:
        return
    key = keys.waiting_call(event.call_id)
    pipe.hdel(key, "agent")
    if event.exclude_agent:
        pipe.hset(key, DECLINED + event.agent_id, num(event.at))
    pipe.zadd(keys.queue_waiting(event.queue), {event.call_id: float(score)})


def _claim_side_effects(
    pipe: Pipeline, agent_id: str, before: AgentRecord, command: Command | None
) -> None:
    if isinstance(command, Reserve):
        pipe.zrem(keys.queue_waiting(command.queue), command.call_id)
        pipe.hset(keys.waiting_call(command.call_id), "agent", agent_id)
    elif isinstance(command, Answer) and before.state.queue is not None:
        pipe.zrem(keys.queue_waiting(before.state.queue), command.call_id)
        pipe.delete(keys.waiting_call(command.call_id))


async def _calls(client: redis.Redis, ids: list[str]) -> list[WaitingCall]:
    async with client.pipeline(transaction=True) as pipe:
        for call_id in ids:
            pipe.hgetall(keys.waiting_call(call_id))
        raws: list[Any] = await pipe.execute()
    return [decode_call(i, _text(raw)) for i, raw in zip(ids, raws, strict=True) if raw]


def _text(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash as read with ``decode_responses=True`` (the link's client), typed as text."""
    return {str(k): str(v) for k, v in raw.items()}


def _m(fields: Mapping[str, str]) -> Mapping[Any, Any]:
    """redis-py's ``hset`` wants its own key/value union; text fields are a valid one."""
    return fields
