"""An explain/queues API over real HTTP on a real Redis, with a clock the test moves."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet import reactor, threads
from twisted.internet.defer import maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.domain.routing import Queue
from callcenter.live.snapshot import LiveReader
from callcenter.routing.http import QueuesResource, RoutingResource
from callcenter.store.routing import RoutingState
from callcenter.web.auth import TokenAuth
from tests.integration.agents.kit import Clock, wait
from tests.integration.store.test_routing_kit import T0, open_state
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

SUPERVISOR = "supervisor-token-0123456789"
AGENT = "ann-bound-token-0123456789"
TOKENS = {SUPERVISOR: "supervisor", AGENT: "agent:ann"}


@dataclass
class Api:
    port: int
    state: RoutingState
    clock: Clock

    async def get(self, path: str, token: str | None = SUPERVISOR) -> tuple[int, Any]:
        return await wait(threads.deferToThread(self._get, path, token))

    def _get(self, path: str, token: str | None) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@asynccontextmanager
async def routing_api(server: RedisServer, queues: Iterable[Queue]) -> AsyncIterator[Api]:
    """``/api/routing`` and ``/api/queues`` on a free port, reading a fresh routing store."""
    link, state = await open_state(server.url, queues)
    clock = Clock(T0)
    auth = TokenAuth(TOKENS)
    root, api = Resource(), Resource()
    root.putChild(b"api", api)
    api.putChild(b"routing", RoutingResource(auth, state, clock))
    api.putChild(b"queues", QueuesResource(auth, state, LiveReader(link, state), clock))
    port = free_port()
    listening = cast(Any, reactor).listenTCP(port, Site(root), interface="127.0.0.1")
    try:
        yield Api(port, state, clock)
    finally:
        await wait(maybeDeferred(listening.stopListening))
        await link.close()
