"""``/api/routing/explain`` and ``/api/queues``: why routing did (or did not) do something.

==========================================  ==========  ===========================================
method, path                                role        answer
==========================================  ==========  ===========================================
``GET /api/routing/explain?call=<id>``      supervisor  why a call waits, or which agent holds it
``GET /api/routing/explain?agent=<id>``     supervisor  which waiting call an agent would take, why
``GET /api/queues``                         supervisor  per queue: waiting calls, agents staffed
==========================================  ==========  ===========================================

The routing decision itself is a Lua script that must stay small and fast, so it cannot say
why. Explanations instead re-run the pure reference policy (``choose_agent``/``choose_call``,
which the script is tested against) on a snapshot read from Redis at the moment of the request:
the answer is "what routing would decide now", the question a supervisor asks of a caller who
still waits. An agent that would be chosen is taken at the next match (a sweep runs every few
seconds). Exactly one of ``call`` and ``agent`` is given, else ``400
explain-needs-call-or-agent``; unknown ids are ``404 call-not-found`` / ``404 agent-not-found``.

-*- test-case-name: tests.integration.routing.test_explain_http -*-
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.agents.errors import AgentNotFoundError
from callcenter.calls.errors import CallNotFoundError
from callcenter.domain.routing import (
    AgentSnapshot,
    CallDecision,
    LostToCall,
    Queue,
    Requirements,
    Status,
    WaitingCall,
    as_json,
    choose_agent,
)
from callcenter.domain.routing.decisions import JsonValue
from callcenter.domain.wallboard import QueueLive
from callcenter.live.snapshot import LiveReader
from callcenter.store.call_records import CallRecords
from callcenter.store.routing import RoutingState
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import BadRequestError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg

#: Calls listed per queue by ``GET /api/queues`` unless ``limit`` says otherwise.
DEFAULT_CALLS_LISTED = 100
MAX_CALLS_LISTED = 1000

Json = dict[str, JsonValue]


class ExplainQueryError(BadRequestError):
    """The explain endpoint needs exactly one subject: a call or an agent."""

    error_id = "explain-needs-call-or-agent"


class RoutingResource(Resource):
    """The ``routing`` child of ``/api`` (``explain`` below it)."""

    def __init__(
        self,
        auth: TokenAuth,
        state: RoutingState,
        clock: Callable[[], float],
        records: CallRecords | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._state = state
        self._clock = clock
        self._records = records
        self.putChild(b"explain", JsonEndpoint(auth, {b"GET": ("supervisor", self._explain)}))

    async def _explain(self, request: Request) -> Reply:
        _no_subpath(request)
        call_id, agent_id = query_arg(request, "call"), query_arg(request, "agent")
        if bool(call_id) == bool(agent_id):
            raise ExplainQueryError("give exactly one of ?call=<call id> or ?agent=<agent id>")
        if call_id:
            every = (query_arg(request, "all") or "").lower() in ("1", "true", "yes")
            return 200, await self.explain_call(call_id, every_agent=every)
        assert agent_id
        return 200, await self.explain_agent(agent_id)

    async def explain_call(self, call_id: str, every_agent: bool = False) -> Json:
        """Why ``call_id`` still waits (each agent weighed), or who holds it."""
        now = self._clock()
        view = await self._state.call_view(call_id, now)
        if view is None:
            return await self._call_out_of_queue(call_id, now)
        agents = list(view.agents)
        if not view.queued:
            holder = next((a for a in agents if a.state.call_id == call_id), None)
            return _held(call_id, "ringing", view.queue.name, holder)
        if every_agent:  # also the agents outside the queue, each "not a member"
            members = {a.id for a in agents}
            others = [i for i in await self._agent_ids() if i not in members]
            agents += await self._state.snapshots(others, now)
        decision = choose_agent(view.call, view.queue, agents, now)
        by_id = {a.id: a for a in agents}
        return {
            "call_id": call_id,
            "state": "waiting",
            "summary": decision.summary,
            "queue": view.queue.name,
            "priority": view.call.priority,
            "skills": dict(view.call.skills),
            "entered_at": view.call.entered_at,
            "waited_seconds": decision.waited_seconds,
            "position": await self._state.position(call_id),
            "strategy": str(view.queue.strategy),
            "requirements": _requirements(decision.requirements, view.queue),
            "chosen": decision.agent_id,
            "agents": [
                {
                    "agent_id": row.agent_id,
                    "name": by_id[row.agent_id].agent.name,
                    "status": str(row.status),
                    "since": by_id[row.agent_id].state.since,
                    "registered": by_id[row.agent_id].registered,
                    "skills": dict(by_id[row.agent_id].agent.skills),
                    "eligible": row.eligible,
                    "chosen": row.agent_id == decision.agent_id,
                    "key": as_json(row.key),
                    "reasons": as_json(row.reasons),
                }
                for row in decision.considered
            ],
        }

    async def explain_agent(self, agent_id: str) -> Json:
        """Which waiting call ``agent_id`` would take now across its queues, and why."""
        now = self._clock()
        view = await self._state.agent_view(agent_id, now)
        if view is None:
            raise AgentNotFoundError(agent_id)
        agent, decision = view.agent, view.decide(now)
        counts: dict[str, int] = {}
        for call in view.calls:
            counts[call.queue] = counts.get(call.queue, 0) + 1
        return {
            "agent_id": agent_id,
            "name": agent.agent.name,
            "status": str(agent.state.status),
            "reason": agent.state.reason,
            "since": agent.state.since,
            "seconds_in_state": agent.state.seconds_in_state(now),
            "registered": agent.registered,
            "skills": dict(agent.agent.skills),
            "current_call": _current_call(agent),
            "queues": [
                {
                    "name": name,
                    "weight": queue.weight,
                    "strategy": str(queue.strategy),
                    "waiting": counts.get(name, 0),
                }
                for name, queue in view.queues.items()
            ],
            "summary": decision.summary,
            "would_take": decision.call_id,
            "because": _because(decision),
            "agent_reasons": as_json(decision.agent_reasons),
            "calls": [
                {
                    "call_id": row.call_id,
                    "queue": row.queue,
                    "priority": row.priority,
                    "waited_seconds": row.waited_seconds,
                    "weight": row.weight,
                    "weighted_wait": row.waited_seconds * row.weight,
                    "eligible": row.eligible,
                    "chosen": row.call_id == decision.call_id,
                    "reasons": as_json(row.reasons),
                }
                for row in decision.considered
            ],
        }

    async def _call_out_of_queue(self, call_id: str, now: float) -> Json:
        """A call routing no longer queues: talking to (or ringing) an agent, or elsewhere."""
        records = await self._state.load_agents()
        holder_id = next((i for i, r in records.items() if r.state.call_id == call_id), None)
        if holder_id is not None:
            found = await self._state.snapshots([holder_id], now)
            if found:
                holder = found[0]
                state = {
                    Status.RESERVED: "ringing",
                    Status.ON_CALL: "connected",
                    Status.WRAP_UP: "ended",
                }.get(holder.state.status, "ended")
                return _held(call_id, state, holder.state.queue, holder)
        record = None if self._records is None else await self._records.get(call_id)
        if record is None:
            raise CallNotFoundError(call_id)
        ended = record.get("ended_at") is not None
        agent = record.get("agent")
        where = f"ended ({record.get('outcome')})" if ended else "is not in a queue"
        return {
            "call_id": call_id,
            "state": "ended" if ended else "not-queued",
            "summary": f"call {call_id} {where}"
            + (f"; it was answered by agent {agent}" if agent else ""),
            "queue": record.get("queue"),
            "agent_id": agent,
            "outcome": record.get("outcome"),
        }

    async def _agent_ids(self) -> list[str]:
        return sorted(await self._state.load_agents())


class QueuesResource(JsonEndpoint):
    """``GET /api/queues``: each queue's waiting calls (head first) and its agents.

    The counts come from the live snapshot (:mod:`callcenter.live.snapshot`), the one reading
    of routing state that the wallboard shares, so both always agree.
    """

    def __init__(
        self, auth: TokenAuth, state: RoutingState, live: LiveReader, clock: Callable[[], float]
    ) -> None:
        super().__init__(auth, {b"GET": ("supervisor", self._queues)})
        self._state = state
        self._live = live
        self._clock = clock

    async def _queues(self, request: Request) -> Reply:
        _no_subpath(request)
        limit = _limit(query_arg(request, "limit"))
        now = self._clock()
        snapshot = await self._live.read(now)
        queues = [
            await self._queue(queue, snapshot.queues[queue.name], now, limit)
            for queue in sorted(self._state.queues.values(), key=lambda q: q.name)
        ]
        return 200, {"queues": queues, "count": len(queues)}

    async def _queue(self, queue: Queue, live: QueueLive, now: float, limit: int) -> Json:
        waiting = await self._state.waiting(queue.name, limit) if limit else []
        return {
            "name": queue.name,
            "strategy": str(queue.strategy),
            "weight": queue.weight,
            "skills": dict(queue.skills),
            "waiting": live.waiting,
            "longest_wait_seconds": live.longest_wait(now),
            "calls": [_waiting_row(call, n, now) for n, call in enumerate(waiting, 1)],
            "agents": {
                "members": live.members,
                "staffed": live.staffed,
                "available": live.available,
                "by_status": dict(live.by_status),
            },
        }


def _waiting_row(call: WaitingCall, position: int, now: float) -> Json:
    return {
        "call_id": call.call_id,
        "position": position,
        "priority": call.priority,
        "entered_at": call.entered_at,
        "waited_seconds": call.waited(now),
        "skills": dict(call.skills),
    }


def _requirements(requirements: Requirements, queue: Queue) -> Json:
    body = as_json(requirements)
    assert isinstance(body, dict)
    return {**body, "steps": len(queue.escalation)}


def _held(call_id: str, state: str, queue: str | None, holder: AgentSnapshot | None) -> Json:
    if holder is None:  # between leaving the queue and the agent's reservation being read
        summary = f"call {call_id} is being offered to an agent"
    elif state == "ringing":
        summary = f"call {call_id} is ringing agent {holder.id} (since {holder.state.since:g})"
    elif state == "connected":
        summary = f"call {call_id} is connected to agent {holder.id}"
    else:
        summary = f"call {call_id} ended; agent {holder.id} is in wrap-up"
    return {
        "call_id": call_id,
        "state": state,
        "summary": summary,
        "queue": queue,
        "agent_id": None if holder is None else holder.id,
        "since": None if holder is None else holder.state.since,
    }


def _current_call(agent: AgentSnapshot) -> Json | None:
    state = agent.state
    if state.call_id is None:
        return None
    return {"call_id": state.call_id, "queue": state.queue, "status": str(state.status)}


def _because(decision: CallDecision) -> str | None:
    """Why the chosen call beats the runner-up, in words (None when nothing was chosen)."""
    if decision.call_id is None:
        return None
    runner = next((row for row in decision.considered[1:] if row.eligible), None)
    if runner is None:
        return "the only waiting call this agent is eligible for"
    lost = next((r for r in runner.reasons if isinstance(r, LostToCall)), None)
    if lost is None:  # pragma: no cover - choose_call gives every eligible loser one
        return None
    if lost.decided_by == "priority":
        return (
            f"priority {lost.winner_priority} beats {lost.priority} of call {runner.call_id}"
            " (priority always beats wait)"
        )
    if lost.decided_by == "weighted-wait":
        return (
            f"same priority; weighted wait {lost.winner_weighted_wait:g} s beats"
            f" {lost.weighted_wait:g} s of call {runner.call_id}"
        )
    return f"tied with call {runner.call_id}; the lower call id goes first"


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_CALLS_LISTED
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"limit must be a whole number, got {raw!r}") from None
    if not 0 <= value <= MAX_CALLS_LISTED:
        raise BadRequestError(f"limit must be between 0 and {MAX_CALLS_LISTED}")
    return value


def _no_subpath(request: Request) -> None:
    """The endpoints are leaves: ``/api/queues/x`` is not a thing, say so instead of guessing."""
    extra = [p for p in (request.postpath or []) if p]
    if extra:
        shown = b"/".join(extra).decode("utf-8", "replace")[:60]
        raise NotFoundError(f"nothing at {shown!r} here")
