"""The tickets REST API: the built-in helpdesk, the outbox, and the agent's wrap-up.

- ``GET /api/tickets`` (supervisor; filters ``status``, ``queue``, ``agent``, ``phone``,
  ``call_id``, ``limit``, ``before``), ``GET /api/tickets/<id>`` (supervisor, or the agent
  token of the agent who took the call), ``PATCH /api/tickets/<id>`` (supervisor: ``status``,
  ``priority``, ``subject``, ``assignee``, ``tags``), ``POST /api/tickets/<id>/comments``
  (supervisor or that agent), ``POST /api/tickets/<id>/close`` (supervisor).
- ``GET /api/tickets/outbox?state=pending|done|dead`` (supervisor), ``POST
  /api/tickets/outbox/<id>/retry`` (admin: a dead row back to pending).
- ``POST /api/calls/<call id>/disposition`` ``{"disposition", "notes"}``: the agent who took
  the call (bound token) or a supervisor.

Bad input is a 400 with an ``error_id`` naming the field at fault.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.domain.tickets import PRIORITIES, TicketUpdate
from callcenter.tickets.helpdesk import (
    STATUSES,
    Helpdesk,
    TicketClosedError,
    TicketFilter,
    TicketNotFoundError,
)
from callcenter.tickets.outbox import STATES, Outbox
from callcenter.web.auth import Principal, TokenAuth, rank
from callcenter.web.errors import ApiError, BadRequestError, ForbiddenError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg
from callcenter.web.json_api import json_body as web_json_body

MAX_BODY = 64 * 1024
MAX_LIMIT = 500
TAG = re.compile(r"^[a-z0-9_-]{1,64}$")
PATCHABLE = ("status", "priority", "subject", "assignee", "tags")

InThread = Callable[..., Awaitable[Any]]


class FieldError(ApiError):
    """A request field is missing or wrong; ``error_id`` names it (``invalid-status``)."""

    status = 400

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


class ConflictError(ApiError):
    status = 409

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


class HelpdeskOffError(ApiError):
    status = 404
    error_id = "builtin-helpdesk-off"


@dataclass(frozen=True)
class CallFacts:
    """What the disposition endpoint needs to know about a call."""

    known: bool
    agent: str | None


class TicketsResource(Resource):
    """``/api/tickets``: list, ``outbox``, and ``<id>`` with its sub-paths."""

    def __init__(
        self,
        auth: TokenAuth,
        helpdesk: Helpdesk | None,
        outbox: Outbox,
        in_thread: InThread,
        wake: Callable[[], None],
        known_agent: Callable[[str], bool],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._helpdesk = helpdesk
        self._outbox = outbox
        self._in_thread = in_thread
        self._wake = wake
        self._known_agent = known_agent
        self._list = JsonEndpoint(auth, {b"GET": ("supervisor", self._tickets)})

    def render(self, request: Request) -> Any:
        return self._list.render(request)

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        rest = [p.decode("utf-8", "replace") for p in (request.postpath or [])]
        name = path.decode("utf-8", "replace")
        if name == "":
            return self._list
        if name == "outbox":
            return self._outbox_route(rest)
        return self._ticket_route(name, rest)

    # --- helpdesk --------------------------------------------------------------------------

    def _desk(self) -> Helpdesk:
        if self._helpdesk is None:
            raise HelpdeskOffError(
                "the built-in helpdesk is not in use (tickets.backend is not builtin); "
                "see GET /api/tickets/outbox for delivery to your helpdesk"
            )
        return self._helpdesk

    async def _tickets(self, request: Request) -> Reply:
        desk = self._desk()
        status = query_arg(request, "status")
        if status is not None and status not in STATUSES:
            raise FieldError("invalid-status", f"status must be one of {', '.join(STATUSES)}")
        where = TicketFilter(
            status=status,
            queue=query_arg(request, "queue") or None,
            agent=query_arg(request, "agent") or None,
            phone=query_arg(request, "phone") or None,
            call_id=query_arg(request, "call_id") or None,
            limit=_whole(query_arg(request, "limit"), "limit", 50, 1, MAX_LIMIT),
            before_id=_optional_whole(query_arg(request, "before"), "before"),
        )
        found: list[dict[str, Any]] = await self._in_thread(desk.search, where)
        return 200, {"tickets": found, "count": len(found)}

    def _ticket_route(self, name: str, rest: list[str]) -> Resource:
        if not name.isdigit():
            return _Fixed(self._auth, NotFoundError(f"no ticket {name!r} (ids are numbers)"))
        ticket_id = int(name)
        if rest == []:
            return JsonEndpoint(
                self._auth,
                {
                    b"GET": ("agent", lambda r: self._read(r, ticket_id)),
                    b"PATCH": ("supervisor", lambda r: self._patch(r, ticket_id)),
                },
            )
        if rest == ["comments"]:
            return JsonEndpoint(
                self._auth, {b"POST": ("agent", lambda r: self._comment(r, ticket_id))}
            )
        if rest == ["close"]:
            return JsonEndpoint(
                self._auth, {b"POST": ("supervisor", lambda r: self._close(ticket_id))}
            )
        return _Fixed(self._auth, NotFoundError("no such ticket resource"))

    async def _read(self, request: Request, ticket_id: int) -> Reply:
        desk = self._desk()
        await self._may_touch(request, ticket_id)
        return 200, await self._call_desk(desk.get, ticket_id)

    async def _patch(self, request: Request, ticket_id: int) -> Reply:
        desk = self._desk()
        changes = self._valid_patch(json_body(request))
        return 200, await self._call_desk(desk.patch, ticket_id, changes, time.time())

    async def _comment(self, request: Request, ticket_id: int) -> Reply:
        desk = self._desk()
        principal = await self._may_touch(request, ticket_id)
        body = json_body(request)
        _only(body, ("body",))
        text = body.get("body")
        if not isinstance(text, str) or not text.strip() or len(text) > 10_000:
            raise FieldError("invalid-comment", "body must be text of 1 to 10000 characters")
        author = principal.agent_id or principal.role
        added = await self._call_desk(desk.comment, ticket_id, author, text.strip(), time.time())
        return 201, added

    async def _close(self, ticket_id: int) -> Reply:
        desk = self._desk()
        return 200, await self._call_desk(desk.patch, ticket_id, {"status": "closed"}, time.time())

    async def _may_touch(self, request: Request, ticket_id: int) -> Principal:
        """Supervisors touch any ticket; an agent token only tickets of calls it took."""
        header = request.getHeader(b"authorization")
        principal = self._auth.principal_of(header.decode("latin-1") if header else None)
        if rank(principal.role) >= rank("supervisor"):
            return principal
        agent = await self._call_desk(self._desk().agent_of, ticket_id)
        if principal.agent_id is None or principal.agent_id != agent:
            raise ForbiddenError("an agent token may only read tickets of calls its agent took")
        return principal

    async def _call_desk(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self._in_thread(fn, *args)
        except TicketNotFoundError as exc:
            raise NotFoundError(str(exc)) from None
        except TicketClosedError as exc:
            raise ConflictError("ticket-closed", str(exc)) from None

    def _valid_patch(self, body: dict[str, Any]) -> dict[str, Any]:
        _only(body, PATCHABLE)
        if not body:
            raise FieldError("empty-patch", f"give at least one of {', '.join(PATCHABLE)}")
        changes: dict[str, Any] = {}
        if "status" in body:
            if body["status"] not in STATUSES:
                raise FieldError("invalid-status", f"status must be one of {', '.join(STATUSES)}")
            changes["status"] = body["status"]
        if "priority" in body:
            if body["priority"] not in PRIORITIES:
                raise FieldError(
                    "invalid-priority", f"priority must be one of {', '.join(PRIORITIES)}"
                )
            changes["priority"] = body["priority"]
        if "subject" in body:
            subject = body["subject"]
            if not isinstance(subject, str) or not subject.strip() or len(subject) > 300:
                raise FieldError("invalid-subject", "subject must be text of 1 to 300 characters")
            changes["subject"] = subject.strip()
        if "assignee" in body:
            assignee = body["assignee"]
            if assignee is not None and (
                not isinstance(assignee, str) or not self._known_agent(assignee)
            ):
                raise FieldError(
                    "invalid-assignee", "assignee must be a configured agent id or null"
                )
            changes["assignee"] = assignee
        if "tags" in body:
            tags = body["tags"]
            if (
                not isinstance(tags, list)
                or len(tags) > 50
                or not all(isinstance(t, str) and TAG.match(t) for t in tags)
            ):
                raise FieldError(
                    "invalid-tags",
                    "tags must be a list of at most 50 words of a-z, 0-9, _ and - (≤ 64 each)",
                )
            changes["tags"] = list(dict.fromkeys(tags))
        return changes

    # --- outbox ----------------------------------------------------------------------------

    def _outbox_route(self, rest: list[str]) -> Resource:
        if rest == []:
            return JsonEndpoint(self._auth, {b"GET": ("supervisor", self._outbox_rows)})
        if len(rest) == 2 and rest[1] == "retry" and rest[0].isdigit():
            row_id = int(rest[0])
            return JsonEndpoint(self._auth, {b"POST": ("admin", lambda r: self._retry(row_id))})
        return _Fixed(self._auth, NotFoundError("no such outbox resource"))

    async def _outbox_rows(self, request: Request) -> Reply:
        state = query_arg(request, "state")
        if state is not None and state not in STATES:
            raise FieldError("invalid-state", f"state must be one of {', '.join(STATES)}")
        limit = _whole(query_arg(request, "limit"), "limit", 100, 1, MAX_LIMIT)
        call_id = query_arg(request, "call_id") or None
        rows = await self._in_thread(self._outbox.rows, state, limit, call_id)
        counts = await self._in_thread(self._outbox.counts)
        return 200, {"rows": [r.to_json() for r in rows], "count": len(rows), "states": counts}

    async def _retry(self, row_id: int) -> Reply:
        row = await self._in_thread(self._outbox.get, row_id)
        if row is None:
            raise NotFoundError(f"no outbox row {row_id}")
        if not await self._in_thread(self._outbox.requeue, row_id, time.time()):
            raise ConflictError("not-dead", f"outbox row {row_id} is {row.state}, not dead")
        self._wake()
        return 200, (await self._in_thread(self._outbox.get, row_id)).to_json()


class DispositionDesk:
    """``POST /api/calls/<call id>/disposition``: the agent's wrap-up onto the call's ticket."""

    def __init__(
        self,
        auth: TokenAuth,
        outbox: Outbox | None,
        in_thread: InThread,
        facts: Callable[[str], Awaitable[CallFacts]],
        live_call_of: Callable[[str], Awaitable[str | None]],
        emit: Callable[..., None],
        wake: Callable[[], None],
    ) -> None:
        self._auth = auth
        self._outbox = outbox
        self._in_thread = in_thread
        self._facts = facts
        self._live_call_of = live_call_of
        self._emit = emit
        self._wake = wake

    def endpoint(self, call_id: str) -> Resource:
        return JsonEndpoint(self._auth, {b"POST": ("agent", lambda r: self._post(r, call_id))})

    async def _post(self, request: Request, call_id: str) -> Reply:
        header = request.getHeader(b"authorization")
        principal = self._auth.principal_of(header.decode("latin-1") if header else None)
        is_supervisor = rank(principal.role) >= rank("supervisor")
        if not is_supervisor and principal.agent_id is None:
            raise ForbiddenError("this needs a token bound to the call's agent, or a supervisor")
        body = json_body(request)
        _only(body, ("disposition", "notes"))
        disposition = body.get("disposition")
        if (
            not isinstance(disposition, str)
            or not disposition.strip()
            or len(disposition) > 100
            or not disposition.isprintable()
        ):
            raise FieldError(
                "invalid-disposition", "disposition must be printable text of 1 to 100 characters"
            )
        notes = body.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > 4000):
            raise FieldError("invalid-notes", "notes must be text of at most 4000 characters")
        facts = await self._facts(call_id)
        if not facts.known:
            raise NotFoundError(f"no call with id {call_id!r}")
        agent = facts.agent
        if not is_supervisor:
            mine = agent == principal.agent_id
            if agent is None:
                mine = await self._live_call_of(principal.agent_id or "") == call_id
            if not mine:
                raise ConflictError(
                    "not-your-call",
                    f"agent {principal.agent_id} did not take call {call_id}",
                )
            agent = principal.agent_id
        notes = notes.strip() or None if isinstance(notes, str) else None
        disposition = disposition.strip()
        self._emit("call.disposition", call_id, agent=agent, disposition=disposition, notes=notes)
        how = "none"  # tickets.backend: none: the event alone
        if self._outbox is not None:
            change = TicketUpdate(call_id, disposition, notes, agent)
            how = await self._in_thread(self._outbox.add_update, change, time.time())
            self._wake()
        return 202, {
            "call_id": call_id,
            "agent": agent,
            "disposition": disposition,
            "notes": notes,
            "ticket": how,
        }


class CallsWithDisposition(Resource):
    """``/api/calls`` as before, plus ``/api/calls/<call id>/disposition``."""

    def __init__(self, calls: Resource, desk: DispositionDesk) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._calls = calls
        self._desk = desk

    def render(self, request: Request) -> Any:
        return self._calls.render(request)

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path and request.postpath == [b"disposition"]:
            return self._desk.endpoint(path.decode("utf-8", "replace"))
        child: Resource = self._calls.getChildWithDefault(path, request)
        return child


class _Fixed(JsonEndpoint):
    """Any method answers the same error (a 404 on a path that does not exist)."""

    def __init__(self, auth: TokenAuth, error: ApiError) -> None:
        async def fail(_: Request) -> Reply:
            raise error

        routes = {m: ("agent", fail) for m in (b"GET", b"POST", b"PATCH", b"PUT", b"DELETE")}
        super().__init__(auth, routes)  # type: ignore[arg-type]


def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; a bad one is the ``invalid-json`` field error of this API."""
    try:
        return web_json_body(request, MAX_BODY)
    except BadRequestError as exc:
        raise FieldError("invalid-json", str(exc)) from None


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise FieldError(
            "unknown-field", f"unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )


def _whole(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequestError(f"{name} must be a whole number between {low} and {high}")
    return int(raw)


def _optional_whole(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BadRequestError(f"{name} must be a ticket id (a whole number)")
    return int(raw)
