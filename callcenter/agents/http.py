"""``/api/agents``: agents' states for supervisors and for the agents themselves.

=========================================  =======================================  ===========
method, path                               who                                      answer
=========================================  =======================================  ===========
``GET /api/agents``                        supervisor                               all agents
``GET /api/agents/{id}``                   supervisor, or a token bound to ``id``   one agent
``POST /api/agents/{id}/login``            supervisor, or a token bound to ``id``   the agent
``POST /api/agents/{id}/logout``           (same)                                   the agent
``POST /api/agents/{id}/ready``            (same)                                   the agent
``POST /api/agents/{id}/pause``            (same), body ``{"reason": "lunch"}``     the agent
``PATCH /api/agents/{id}``                 supervisor: ``{"skills": {...},          the agent
                                           "queues": [...]}`` (runtime edit)
``GET /api/agents/{id}/edits``             supervisor                               its edits
``DELETE /api/agents/{id}/edits``          supervisor (back to the configuration)   the agent
=========================================  =======================================  ===========

A change made with a supervisor or admin token is audited (``supervisor.action``); an agent's
own bound token is not a supervisor. Edits (their rules and precedence over the configuration
are in :mod:`callcenter.domain.routing.edits`): ``400`` malformed, ``422`` an unknown skill or
queue.

A refused transition is ``409`` with the state machine's slug as ``error_id``
(``agent-logged-in``, ``agent-on-call``…); an unknown agent ``404 agent-not-found``; a bound
agent token acting on another agent ``403 forbidden`` (checked before the id is looked up, so
a token cannot probe which ids exist).

-*- test-case-name: tests.unit.agents.test_http -*-
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.agents.errors import InvalidPauseReasonError
from callcenter.agents.service import AgentsService, AgentView
from callcenter.domain.routing.edits import EditError, parse_edit
from callcenter.supervisor.audit import AuditTrail
from callcenter.supervisor.errors import InvalidRequestError
from callcenter.web.auth import Principal, TokenAuth
from callcenter.web.errors import NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, json_body

Action = Callable[[str, Request], Awaitable[AgentView]]


class AgentsResource(Resource):
    """The ``agents`` child of ``/api``."""

    def __init__(
        self, auth: TokenAuth, agents: AgentsService, audit: AuditTrail | None = None
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._agents = agents
        self._audit = audit
        self._list = JsonEndpoint(auth, {b"GET": ("supervisor", self._all)})
        self._actions: dict[bytes, Action] = {
            b"login": lambda agent_id, _: agents.login(agent_id),
            b"logout": lambda agent_id, _: agents.logout(agent_id),
            b"ready": lambda agent_id, _: agents.ready(agent_id),
            b"pause": self._pause,
        }

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path == b"":
            return self._list
        return _AgentResource(self, path.decode("utf-8", "replace"))

    def render(self, request: Request) -> Any:
        return self._list.render(request)

    async def _all(self, _: Request) -> Reply:
        views = await self._agents.list_agents()
        return 200, {"agents": [v.as_json() for v in views], "count": len(views)}

    def _guarded(self, agent_id: str, action: Callable[[Request], Awaitable[Reply]]) -> Any:
        """A handler that first checks the token may act on ``agent_id``."""

        async def handler(request: Request) -> Reply:
            self._auth.require_agent(_header(request), agent_id)
            return await action(request)

        return handler

    def _audited(self, principal: Principal, action: str, agent_id: str, **details: Any) -> None:
        if self._audit is not None:
            self._audit.record(principal, action, agent_id, **details)

    def one(self, agent_id: str) -> Resource:
        async def show(_: Request) -> Reply:
            return 200, (await self._agents.get(agent_id)).as_json()

        async def edit(request: Request) -> Reply:
            body = json_body(request)
            try:
                change = parse_edit(body, self._agents.vocabulary)
            except EditError as refused:
                raise InvalidRequestError(refused) from None
            view = await self._agents.edit(agent_id, change)
            principal = self._auth.principal_of(_header(request))
            self._audited(
                principal, "edit-agent", agent_id, **{k: body[k] for k in change.mentioned}
            )
            return 200, view.as_json()

        return JsonEndpoint(
            self._auth,
            {
                b"GET": ("agent", self._guarded(agent_id, show)),
                b"PATCH": ("supervisor", edit),
            },
        )

    def edits(self, agent_id: str) -> Resource:
        async def show(_: Request) -> Reply:
            edits, configured = await self._agents.edits(agent_id)
            return 200, {
                "id": agent_id,
                "edits": {"skills": edits.skills and dict(edits.skills), "queues": edits.queues},
                "configured": {"skills": dict(configured.skills), "queues": configured.queues},
            }

        async def reset(request: Request) -> Reply:
            view = await self._agents.reset_edits(agent_id)
            self._audited(self._auth.principal_of(_header(request)), "reset-agent", agent_id)
            return 200, view.as_json()

        return JsonEndpoint(
            self._auth, {b"GET": ("supervisor", show), b"DELETE": ("supervisor", reset)}
        )

    def action(self, agent_id: str, name: bytes) -> Resource:
        if name == b"edits":
            return self.edits(agent_id)
        act = self._actions.get(name)
        if act is None:
            missing = ("agent", _no_such_action(name))
            return JsonEndpoint(self._auth, {b"POST": missing, b"GET": missing})

        async def run(request: Request) -> Reply:
            assert act is not None
            view = await act(agent_id, request)
            principal = self._auth.principal_of(_header(request))
            details = {"reason": view.reason} if name == b"pause" else {}
            self._audited(principal, name.decode(), agent_id, status=view.status.value, **details)
            return 200, view.as_json()

        return JsonEndpoint(self._auth, {b"POST": ("agent", self._guarded(agent_id, run))})

    async def _pause(self, agent_id: str, request: Request) -> AgentView:
        body = json_body(request)
        reason = body.get("reason")
        if not isinstance(reason, str):
            raise InvalidPauseReasonError('a pause needs {"reason": "<text>"}')
        return await self._agents.pause(agent_id, reason)


class _AgentResource(Resource):
    """``/api/agents/{id}`` and its actions."""

    def __init__(self, parent: AgentsResource, agent_id: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._parent = parent
        self._agent_id = agent_id

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path == b"":
            return self._parent.one(self._agent_id)
        return self._parent.action(self._agent_id, path)

    def render(self, request: Request) -> Any:
        return self._parent.one(self._agent_id).render(request)


def _no_such_action(name: bytes) -> Callable[[Request], Awaitable[Reply]]:
    async def handler(_: Request) -> Reply:
        shown = name.decode("utf-8", "replace")[:40]
        raise NotFoundError(f"no agent action {shown!r}; use login, logout, ready or pause")

    return handler


def _header(request: Request) -> str | None:
    header = request.getHeader(b"authorization")
    return header.decode("latin-1") if header else None
