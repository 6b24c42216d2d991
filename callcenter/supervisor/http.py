"""Supervisor endpoints on a waiting call: ``/api/calls/{id}/queue`` and ``/priority``.

=============================================  ==========  =====================================
method, path                                   role        answer
=============================================  ==========  =====================================
``POST /api/calls/{id}/queue``                 supervisor  ``{"queue": "sales"}``: the call, moved
``POST /api/calls/{id}/priority``              supervisor  ``{"priority": 5}``: the call, re-ranked
``GET /api/audit?limit=&supervisor=&action=``  admin       supervisors' recent actions
=============================================  ==========  =====================================

``400`` a malformed body (``invalid-queue``, ``invalid-priority``, ``bad-request``), ``422
unknown-queue``, ``404 call-not-found``, ``409`` when the call is not waiting
(``call-ringing``, ``call-connected``, ``call-ended``, ``call-not-queued``). Registered on the
calls resource with :func:`add_call_actions`.

-*- test-case-name: tests.integration.supervisor.test_calls_api -*-
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.calls.http import CallsResource
from callcenter.domain.routing.edits import EditError, Vocabulary, parse_priority, parse_queue
from callcenter.store.audit import AuditLog
from callcenter.supervisor.calls import CallDesk
from callcenter.supervisor.errors import InvalidRequestError
from callcenter.web.auth import Principal, TokenAuth
from callcenter.web.errors import BadRequestError
from callcenter.web.json_api import JsonEndpoint, Reply, json_body, query_arg

#: Most audit entries one request returns.
MAX_AUDIT_LIMIT = 1000
AUDIT_FILTERS = ("supervisor", "action", "target", "call_id")


def principal_of(auth: TokenAuth, request: Request) -> Principal:
    """Who sent the request (the endpoint has already checked the role)."""
    header = request.getHeader(b"authorization")
    return auth.principal_of(header.decode("latin-1") if header else None)


def add_call_actions(
    calls: CallsResource, auth: TokenAuth, desk: CallDesk, vocabulary: Vocabulary
) -> None:
    def queue(call_id: str) -> Resource:
        async def move(request: Request) -> Reply:
            try:
                target = parse_queue(json_body(request), vocabulary)
            except EditError as refused:
                raise InvalidRequestError(refused) from None
            return 200, await desk.move(call_id, target, principal_of(auth, request))

        return JsonEndpoint(auth, {b"POST": ("supervisor", move)})

    def priority(call_id: str) -> Resource:
        async def change(request: Request) -> Reply:
            try:
                value = parse_priority(json_body(request))
            except EditError as refused:
                raise InvalidRequestError(refused) from None
            return 200, await desk.set_priority(call_id, value, principal_of(auth, request))

        return JsonEndpoint(auth, {b"POST": ("supervisor", change)})

    calls.add_action(b"queue", queue)
    calls.add_action(b"priority", priority)


def audit_endpoint(auth: TokenAuth, log: AuditLog) -> JsonEndpoint:
    """``GET /api/audit``: who did what lately (admin: it is the supervisors' own record)."""

    async def recent(request: Request) -> Reply:
        raw = query_arg(request, "limit") or "50"
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_LIMIT:
            raise BadRequestError(f"limit must be a whole number 1-{MAX_AUDIT_LIMIT}, got {raw!r}")
        wanted = {f: v for f in AUDIT_FILTERS if (v := query_arg(request, f)) is not None}

        def keep(entry: dict[str, Any]) -> bool:
            return all(str(entry.get(f)) == v for f, v in wanted.items())

        entries = await log.recent(int(raw), keep if wanted else None)
        return 200, {"actions": entries, "count": len(entries)}

    return JsonEndpoint(auth, {b"GET": ("admin", recent)})
