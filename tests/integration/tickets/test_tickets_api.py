"""``/api/tickets`` and ``/api/calls/<id>/disposition`` over real HTTP on the built-in
helpdesk: reading, updating, commenting, closing, the outbox, roles, and precise 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.aio import as_deferred
from callcenter.tickets.helpdesk import Helpdesk
from callcenter.tickets.http import (
    CallFacts,
    CallsWithDisposition,
    DispositionDesk,
    TicketsResource,
)
from callcenter.tickets.outbox import DEAD, Outbox
from callcenter.web.auth import TokenAuth
from callcenter.web.json_api import JsonEndpoint, Reply
from tests.integration.tickets.kit import T0, database, draft, in_thread
from tests.support.ports import free_port

SUPERVISOR = "supervisor-token-0123456789"
ADMIN = "admin-token-0123456789abc"
ANN = "ann-bound-token-0123456789"
BOB = "bob-bound-token-0123456789"
TOKENS = {SUPERVISOR: "supervisor", ADMIN: "admin", ANN: "agent:ann", BOB: "agent:bob"}
CALLS = {"c-ann": "ann", "c-ivr": None}  # call → agent who took it


@dataclass
class Api:
    client: httpx.AsyncClient
    helpdesk: Helpdesk
    outbox: Outbox
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def call(
        self, method: str, path: str, token: str | None = SUPERVISOR, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.request(method, path, json=body, headers=headers)
        return response.status_code, response.json()


@asynccontextmanager
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    engine = database(tmp_path)
    helpdesk, outbox = Helpdesk(engine), Outbox(engine)
    auth = TokenAuth(TOKENS)
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def facts(call_id: str) -> CallFacts:
        return CallFacts(call_id in CALLS, CALLS.get(call_id))

    async def live_call_of(agent_id: str) -> str | None:
        return None

    async def calls_list(_: Any) -> Reply:
        return 200, {"calls": []}

    root, api_root = Resource(), Resource()
    root.putChild(b"api", api_root)
    api_root.putChild(
        b"tickets",
        TicketsResource(
            auth, helpdesk, outbox, in_thread, lambda: None, {"ann", "bob"}.__contains__
        ),
    )
    desk = DispositionDesk(
        auth,
        outbox,
        in_thread,
        facts,
        live_call_of,
        lambda kind, call_id, **data: events.append((kind, call_id, data)),
        lambda: None,
    )
    calls = JsonEndpoint(auth, {b"GET": ("supervisor", calls_list)})
    api_root.putChild(b"calls", CallsWithDisposition(calls, desk))
    port = free_port()
    listening = cast(Any, reactor).listenTCP(port, Site(root), interface="127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield Api(client, helpdesk, outbox, events)
    finally:
        stopped: Deferred[None] = maybeDeferred(listening.stopListening)
        await stopped.asFuture(asyncio.get_running_loop())


@pytest_twisted.ensureDeferred
async def test_supervisors_read_update_comment_and_close_tickets(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api(tmp_path) as a:
            first = a.helpdesk.create(draft("c-ann"), T0)
            again = a.helpdesk.create(draft("c-ann"), T0 + 5)  # a re-delivered create
            other = a.helpdesk.create(replace(draft("c-2", phone="+1555"), agent="bob"), T0 + 6)
            assert first == again
            status, body = await a.call("GET", "/api/tickets")
            assert status == 200 and [t["call_id"] for t in body["tickets"]] == ["c-2", "c-ann"]
            status, body = await a.call("GET", "/api/tickets?phone=%2B442079460123")
            assert [t["id"] for t in body["tickets"]] == [first]

            status, ticket = await a.call("GET", f"/api/tickets/{first}")
            assert status == 200 and ticket["priority"] == "high" and ticket["status"] == "open"
            assert ticket["requester"]["phone"] == "+442079460123"
            assert ticket["recording_url"] == "https://cc/api/recordings/c-ann/audio"

            change = {"status": "pending", "priority": "urgent", "assignee": "bob", "tags": ["vip"]}
            status, ticket = await a.call("PATCH", f"/api/tickets/{first}", body=change)
            assert status == 200
            assert (ticket["status"], ticket["priority"], ticket["assignee"], ticket["tags"]) == (
                "pending", "urgent", "bob", ["vip"]
            )  # fmt: skip
            status, comment = await a.call(
                "POST", f"/api/tickets/{first}/comments", body={"body": " called back "}
            )
            assert status == 201 and comment["body"] == "called back"
            status, ticket = await a.call("POST", f"/api/tickets/{first}/close")
            assert status == 200 and ticket["status"] == "closed" and ticket["closed_at"]
            status, body = await a.call(
                "POST", f"/api/tickets/{first}/comments", body={"body": "late"}
            )
            assert (status, body["error_id"]) == (409, "ticket-closed")
            assert (await a.call("GET", f"/api/tickets/{other}", token=ANN))[0] == 403
            status, ticket = await a.call("GET", f"/api/tickets/{first}", token=ANN)
            assert status == 200 and ticket["comments"][0]["author"] == "supervisor"

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_bad_fields_get_a_clear_400_naming_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api(tmp_path) as a:
            ticket = a.helpdesk.create(draft("c-ann"), T0)
            path = f"/api/tickets/{ticket}"
            cases: list[tuple[Any, str]] = [
                ({"status": "done"}, "invalid-status"),
                ({"priority": 5}, "invalid-priority"),
                ({"subject": ""}, "invalid-subject"),
                ({"assignee": "nobody"}, "invalid-assignee"),
                ({"tags": ["Has Space"]}, "invalid-tags"),
                ({"colour": "red"}, "unknown-field"),
                ({}, "empty-patch"),
                ([1, 2], "invalid-json"),
            ]
            for body, error_id in cases:
                status, answer = await a.call("PATCH", path, body=body)
                assert (status, answer["error_id"]) == (400, error_id), body
                assert answer["message"] and answer["status"] == 400
            status, answer = await a.call("POST", f"{path}/comments", body={"body": ""})
            assert (status, answer["error_id"]) == (400, "invalid-comment")
            assert (await a.call("GET", "/api/tickets?status=weird"))[1]["error_id"] == (
                "invalid-status"
            )
            assert (await a.call("GET", "/api/tickets/999"))[0] == 404
            assert (await a.call("GET", "/api/tickets/abc"))[0] == 404
            assert (await a.call("PATCH", path, token=ANN, body={"status": "open"}))[0] == 403
            status, answer = await a.call("GET", "/api/tickets/outbox?state=lost")
            assert (status, answer["error_id"]) == (400, "invalid-state")

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_disposition_folds_into_the_ticket_and_checks_who_sends_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api(tmp_path) as a:
            a.outbox.add_create(draft("c-ann"), T0)
            url = "/api/calls/c-ann/disposition"
            cases: list[tuple[Any, str]] = [
                ({"notes": "x"}, "invalid-disposition"),
                ({"disposition": ""}, "invalid-disposition"),
                ({"disposition": "ok", "notes": 5}, "invalid-notes"),
                ({"disposition": "ok", "mood": "happy"}, "unknown-field"),
            ]
            for body, error_id in cases:
                status, answer = await a.call("POST", url, ANN, body)
                assert (status, answer["error_id"]) == (400, error_id), body
            status, answer = await a.call(
                "POST", "/api/calls/nope/disposition", ANN, {"disposition": "x"}
            )
            assert (status, answer["error_id"]) == (404, "not-found")
            status, answer = await a.call("POST", url, BOB, {"disposition": "x"})
            assert (status, answer["error_id"]) == (409, "not-your-call")

            status, answer = await a.call(
                "POST", url, ANN, {"disposition": "Refund issued", "notes": "card charged twice"}
            )
            assert status == 202 and answer["ticket"] == "folded" and answer["agent"] == "ann"
            assert a.events == [
                (
                    "call.disposition",
                    "c-ann",
                    {"agent": "ann", "disposition": "Refund issued", "notes": "card charged twice"},
                )
            ]
            (row,) = a.outbox.rows(None, 10)
            assert row.payload["disposition"] == "Refund issued"
            status, answer = await a.call(
                "POST", "/api/calls/c-ivr/disposition", SUPERVISOR, {"disposition": "spam"}
            )
            assert status == 202 and answer["ticket"] == "queued"

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_dead_letters_are_listed_with_their_reason_and_requeued_by_an_admin(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api(tmp_path) as a:
            a.outbox.add_create(draft("c-ann"), T0)
            (row,) = a.outbox.claim("w", T0, 60, 10)
            a.outbox.dead(row.id, "w", 401, "invalid helpdesk credentials (401)", T0)
            status, body = await a.call("GET", "/api/tickets/outbox?state=dead")
            assert status == 200 and body["states"] == {"pending": 0, "done": 0, "dead": 1}
            (listed,) = body["rows"]
            assert listed["reason"] == "invalid helpdesk credentials (401)"
            assert listed["idempotency_key"] == "c-ann:create" and listed["last_status"] == 401
            retry = f"/api/tickets/outbox/{row.id}/retry"
            assert (await a.call("POST", retry, SUPERVISOR))[0] == 403
            status, body = await a.call("POST", retry, ADMIN)
            assert status == 200 and body["state"] == "pending" and body["attempts"] == 0
            status, body = await a.call("POST", retry, ADMIN)
            assert (status, body["error_id"]) == (409, "not-dead")
            assert (await a.call("POST", "/api/tickets/outbox/99/retry", ADMIN))[0] == 404
            assert a.outbox.rows(DEAD, 10) == []

    await as_deferred(scenario())
