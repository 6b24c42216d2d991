"""The wallboard endpoints over real HTTP on a real Redis, as the service mounts them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from twisted.internet import reactor, threads
from twisted.internet.defer import maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.domain.routing import Queue
from callcenter.domain.wallboard import Thresholds
from callcenter.live.access import WallboardAccess
from callcenter.live.feed import KpiSource, LiveFeed
from callcenter.live.http import WallboardApi, WallboardPage
from callcenter.live.snapshot import LiveReader
from callcenter.store.link import RedisLink
from callcenter.store.routing import RoutingState
from tests.integration.agents.kit import wait
from tests.integration.store.test_routing_kit import open_state
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.sse import Event, EventStream

SUPERVISOR = "supervisor-token-0123456789"
ADMIN = "admin-token-0123456789abc"
AGENT = "agent-token-0123456789abc"
TOKENS = {SUPERVISOR: "supervisor", ADMIN: "admin", AGENT: "agent:ann"}

T = TypeVar("T")


@dataclass
class Board:
    port: int
    link: RedisLink
    state: RoutingState
    feed: LiveFeed

    async def request(
        self,
        path: str,
        token: str | None = SUPERVISOR,
        method: str = "GET",
        cookie: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        return await wait(threads.deferToThread(self._request, path, token, method, cookie))

    def _request(
        self, path: str, token: str | None, method: str, cookie: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if cookie is not None:
            request.add_header("Cookie", cookie)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                headers = {k.lower(): v for k, v in response.getheaders()}
                kind = headers.get("content-type", "")
                return response.status, json.loads(raw) if "json" in kind else raw, headers
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), {}

    async def stream(self, token: str | None = SUPERVISOR, cookie: str | None = None) -> Stream:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        opened = await in_thread(lambda: EventStream(self.port, "/api/wallboard/events", headers))
        return Stream(opened)


@dataclass
class Stream:
    """An event stream read from a thread, awaited from the reactor's loop."""

    events: EventStream

    @property
    def status(self) -> int:
        return self.events.status

    async def next(self, kind: str | None = None, timeout: float = 10.0) -> Event:
        return await in_thread(lambda: self.events.next(kind, timeout))

    def close(self) -> None:
        self.events.close()


async def in_thread(call: Callable[[], T]) -> T:
    return await wait(threads.deferToThread(call))


@asynccontextmanager
async def wallboard(
    server: RedisServer,
    queues: Iterable[Queue],
    thresholds: Mapping[str, Thresholds] | None = None,
    heartbeat: float = 30.0,
    tokens: Mapping[str, str] = TOKENS,
    kpis: KpiSource | None = None,
) -> AsyncIterator[Board]:
    """``/wallboard`` and ``/api/wallboard`` on a free port; the heartbeat is long by default,
    so a test sees that an event (not the safety-net poll) moved the board."""
    link, state = await open_state(server.url, queues)
    feed = LiveFeed(LiveReader(link, state), link, thresholds or {}, kpis=kpis, heartbeat=heartbeat)
    root, api = Resource(), Resource()
    root.putChild(b"api", api)
    root.putChild(b"wallboard", WallboardPage())
    api.putChild(b"wallboard", WallboardApi(WallboardAccess(tokens, time.time), feed))
    port = free_port()
    listening = cast(Any, reactor).listenTCP(port, Site(root), interface="127.0.0.1")
    try:
        yield Board(port, link, state, feed)
    finally:
        await feed.stop()
        await wait(maybeDeferred(listening.stopListening))
        await link.close()
