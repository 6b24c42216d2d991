"""The supervisor API over real HTTP on a real Redis: agents, calls and their actions, audit."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import reactor, threads
from twisted.internet.defer import maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.agents.http import AgentsResource
from callcenter.calls.http import CallsResource
from callcenter.domain.routing import Agent, Queue, WaitingCall
from callcenter.roster import Roster
from callcenter.routing.handoff import CallNotice
from callcenter.store import keys
from callcenter.store.audit import AuditLog
from callcenter.store.call_records import CallRecords, EventLog
from callcenter.store.routing.waiting import WaitingStore
from callcenter.supervisor.audit import AuditTrail
from callcenter.supervisor.calls import CallDesk
from callcenter.supervisor.http import add_call_actions, audit_endpoint
from callcenter.web.auth import TokenAuth
from tests.integration.agents.kit import T0, Env, agents_env, wait
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

ADMIN = "admin-token-0123456789"
SUPERVISOR = "supervisor-token-0123456789"
ANN_TOKEN = "ann-bound-token-0123456789"
PLAIN = "plain-agent-token-0123456789"
TOKENS = {
    ADMIN: "admin",
    SUPERVISOR: "supervisor:Sue",
    ANN_TOKEN: "agent:ann",
    PLAIN: "agent",
}

ANN = Agent("ann", "Ann", "ann", {"billing": 5}, ("billing",))
BOB = Agent("bob", "Bob", "bob", {"tech": 3}, ("sales",))


def roster() -> Roster:
    return Roster(
        agents={"ann": ANN, "bob": BOB},
        queues={"billing": Queue("billing"), "sales": Queue("sales", skills={"tech": 2})},
        passwords={"ann": "ann-password", "bob": "bob-password"},
        skills=frozenset({"billing", "tech", "french"}),
    )


@dataclass
class Api:
    port: int
    env: Env
    store: WaitingStore
    notices: list[CallNotice] = field(default_factory=list)

    async def call(
        self, path: str, token: str | None = SUPERVISOR, method: str = "GET", body: Any = None
    ) -> tuple[int, Any]:
        return await wait(threads.deferToThread(self._call, path, token, method, body))

    def _call(self, path: str, token: str | None, method: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PATCH"):
            data = b""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method
        )
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    async def queue_call(
        self, call_id: str, queue: str = "billing", priority: int = 0, at: float = T0
    ) -> WaitingCall:
        call = WaitingCall(call_id, queue, priority, at, {})
        await self.env.state.enqueue(call)
        return call

    async def save_record(self, call_id: str, **fields: Any) -> None:
        record = {"call_id": call_id, "outcome": "in-progress", "ended_at": None, "agent": None}
        record.update(fields)
        await self.env.link.client.set(keys.call(call_id), json.dumps(record))

    async def audit(self) -> list[dict[str, Any]]:
        """The ``supervisor.action`` events so far, oldest first."""
        await self.env.link.drained()
        rows: list[tuple[str, dict[str, str]]] = await self.env.link.client.xrange(keys.EVENTS)  # type: ignore[assignment]
        out = []
        for _, entry in rows:
            if entry["type"] == "supervisor.action":
                out.append({"call_id": entry["call_id"], **json.loads(entry["data"])})
        return out


@asynccontextmanager
async def supervisor_api(server: RedisServer) -> AsyncIterator[Api]:
    async with agents_env(server.url, roster()) as env:
        auth = TokenAuth(TOKENS)
        audit_log = AuditLog(env.link)
        audit = AuditTrail(EventLog(env.link), audit_log, env.clock)
        records = CallRecords(env.link, keep=100)
        store = WaitingStore(env.link)
        api = Api(0, env, store)

        async def notify(notice: CallNotice) -> None:
            api.notices.append(notice)

        calls = CallsResource(auth, records)
        desk = CallDesk(store, env.state, records, notify, audit, env.clock)
        add_call_actions(calls, auth, desk, roster().vocabulary)
        root = Resource()
        api_root = Resource()
        root.putChild(b"api", api_root)
        api_root.putChild(b"calls", calls)
        api_root.putChild(b"audit", audit_endpoint(auth, audit_log))
        api_root.putChild(b"agents", AgentsResource(auth, env.service, audit))
        api.port = free_port()
        listening = cast(Any, reactor).listenTCP(api.port, Site(root), interface="127.0.0.1")
        try:
            yield api
        finally:
            await wait(maybeDeferred(listening.stopListening))
