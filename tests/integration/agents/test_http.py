"""``/api/agents`` over real HTTP: roles, bound tokens, transitions, errors as JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet import reactor, threads
from twisted.internet.defer import maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.agents.http import AgentsResource
from callcenter.web.auth import TokenAuth
from tests.integration.agents.kit import Env, agents_env, in_task, wait
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

SUPERVISOR = "supervisor-token-0123456789"
ANN = "ann-bound-token-0123456789"
PLAIN = "plain-agent-token-0123456789"
TOKENS = {SUPERVISOR: "supervisor", ANN: "agent:ann", PLAIN: "agent"}


@dataclass
class Api:
    port: int
    env: Env

    async def call(
        self, path: str, token: str | None = SUPERVISOR, method: str = "GET", body: Any = None
    ) -> tuple[int, Any]:
        return await wait(threads.deferToThread(self._call, path, token, method, body))

    def _call(self, path: str, token: str | None, method: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        if data is None and method == "POST":
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


@asynccontextmanager
async def api(server: RedisServer) -> AsyncIterator[Api]:
    async with agents_env(server.url) as env:
        root = Resource()
        api_root = Resource()
        root.putChild(b"api", api_root)
        api_root.putChild(b"agents", AgentsResource(TokenAuth(TOKENS), env.service))
        number = free_port()
        listening = cast(Any, reactor).listenTCP(number, Site(root), interface="127.0.0.1")
        try:
            yield Api(number, env)
        finally:
            await wait(maybeDeferred(listening.stopListening))


@in_task
async def test_supervisors_list_agents_others_may_not(redis_server: RedisServer) -> None:
    async with api(redis_server) as a:
        status, body = await a.call("/api/agents")
        assert status == 200
        assert body["count"] == 2
        ann = body["agents"][0]
        assert ann["id"] == "ann" and ann["status"] == "offline"
        assert set(ann) == {
            "id",
            "name",
            "sip_username",
            "skills",
            "queues",
            "status",
            "reason",
            "since",
            "seconds_in_state",
            "call_id",
            "queue",
            "wrap_up_until",
            "registered",
            "calls_taken",
            "talk_seconds",
            "edited",
        }
        assert (await a.call("/api/agents/"))[0] == 200
        status, body = await a.call("/api/agents", token=ANN)
        assert (status, body["error_id"]) == (403, "forbidden")
        status, body = await a.call("/api/agents", token=None)
        assert (status, body["error_id"]) == (401, "unauthorized")


@in_task
async def test_an_agent_drives_its_own_state(redis_server: RedisServer) -> None:
    async with api(redis_server) as a:
        status, body = await a.call("/api/agents/ann/login", ANN, "POST")
        assert (status, body["status"]) == (200, "available")
        status, body = await a.call("/api/agents/ann/pause", ANN, "POST", {"reason": "lunch"})
        assert (status, body["status"], body["reason"]) == (200, "paused", "lunch")
        status, body = await a.call("/api/agents/ann", ANN)
        assert (status, body["status"], body["reason"]) == (200, "paused", "lunch")
        assert (await a.call("/api/agents/ann/", ANN))[0] == 200
        status, body = await a.call("/api/agents/ann/ready", ANN, "POST")
        assert (status, body["status"]) == (200, "available")
        status, body = await a.call("/api/agents/ann/logout", ANN, "POST")
        assert (status, body["status"]) == (200, "offline")
        assert a.env.heard.available == ["ann", "ann"]


@in_task
async def test_an_agent_token_cannot_touch_another_agent(redis_server: RedisServer) -> None:
    async with api(redis_server) as a:
        for path, method in (("/api/agents/bob", "GET"), ("/api/agents/bob/login", "POST")):
            status, body = await a.call(path, ANN, method)
            assert (status, body["error_id"]) == (403, "forbidden"), path
            status, body = await a.call(path, PLAIN, method)
            assert (status, body["error_id"]) == (403, "forbidden"), path
        # no probing of which ids exist
        status, body = await a.call("/api/agents/zed/login", ANN, "POST")
        assert status == 403
        assert (await a.env.service.get("bob")).status.value == "offline"
        status, body = await a.call("/api/agents/bob/login", SUPERVISOR, "POST")
        assert (status, body["status"]) == (200, "available")


@in_task
async def test_errors_are_json_with_an_error_id(redis_server: RedisServer) -> None:
    async with api(redis_server) as a:
        status, body = await a.call("/api/agents/ann/ready", method="POST")
        assert (status, body["error_id"]) == (409, "agent-offline")
        assert "log in first" in body["message"]
        await a.call("/api/agents/ann/login", method="POST")
        status, body = await a.call("/api/agents/ann/login", method="POST")
        assert (status, body["error_id"], body["status"]) == (409, "agent-logged-in", 409)
        status, body = await a.call("/api/agents/zed")
        assert (status, body["error_id"]) == (404, "agent-not-found")
        status, body = await a.call("/api/agents/zed/login", method="POST")
        assert (status, body["error_id"]) == (404, "agent-not-found")
        status, body = await a.call("/api/agents/ann/dance", method="POST")
        assert (status, body["error_id"]) == (404, "not-found")
        status, body = await a.call("/api/agents/ann/login")  # GET
        assert (status, body["error_id"]) == (405, "method-not-allowed")
        pause = "/api/agents/ann/pause"
        for raw, error_id in (
            (b"{not json", "bad-request"),
            (b"[]", "bad-request"),
            (b"", "bad-request"),
            (b"{}", "invalid-pause-reason"),
            (b'{"reason": 5}', "invalid-pause-reason"),
            (b'{"reason": "  "}', "invalid-pause-reason"),
        ):
            status, body = await a.call(pause, method="POST", body=raw)
            assert (status, body["error_id"]) == (400, error_id), raw
        assert (await a.env.service.get("ann")).status.value == "available"
