"""``GET /api/kpis`` over real HTTP, fed by a real event log: roles, figures, errors, outage."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, cast

import pytest
from twisted.internet import reactor, threads
from twisted.internet.defer import maybeDeferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from callcenter.domain.kpi import Window
from callcenter.kpi.feed import KpiFeed
from callcenter.kpi.http import kpis_endpoint
from callcenter.store.link import RedisLink
from callcenter.web.auth import TokenAuth
from tests.integration.agents.kit import in_task, wait
from tests.integration.kpi.kit import add, new_book, until
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

SUPERVISOR = "supervisor-token-0123456789"
AGENT = "plain-agent-token-0123456789"


def _get(port: int, path: str, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@in_task
async def test_kpis_over_http(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    await link.connect()
    now = time.time()
    # c1 answered after 8 s (met), c2 answered after 40 s (missed), c3 abandoned after 10 s
    for call, wait_s in (("c1", 8.0), ("c2", 40.0)):
        await add(link.client, "call.queued", call, now - 200, queue="support")
        await add(link.client, "call.connected", call, now - 200 + wait_s, agent="a", wait=wait_s)
    await add(link.client, "call.queued", "c3", now - 100, queue="support")
    await add(link.client, "call.ended", "c3", now - 90, outcome="abandoned", by="caller")
    feed = KpiFeed(link.client, new_book())
    feed.start()
    root, api = Resource(), Resource()
    root.putChild(b"api", api)
    auth = TokenAuth({SUPERVISOR: "supervisor", AGENT: "agent"})
    api.putChild(b"kpis", kpis_endpoint(auth, feed, time.time))
    port = free_port()
    listening = cast(Any, reactor).listenTCP(port, Site(root), interface="127.0.0.1")

    async def get(path: str, token: str | None = SUPERVISOR) -> tuple[int, Any]:
        return await wait(threads.deferToThread(_get, port, path, token))

    try:
        quarter = Window.FIFTEEN_MINUTES
        await until(lambda: feed.book.queue_kpis("support", quarter, now).tally.abandoned == 1)
        status, body = await get("/api/kpis?window=15m")
        assert status == 200
        support = body["queues"]["support"]
        assert (support["offered"], support["answered"], support["abandoned"]) == (3, 2, 1)
        assert support["service_level"] == pytest.approx(1 / (2 + 1), abs=1e-4)  # 0.3333
        assert support["asa_seconds"] == pytest.approx((8 + 40) / 2)  # 24 s
        assert support["abandon_rate"] == pytest.approx(1 / 3, abs=1e-4)
        assert body["overall"]["answered"] == 2
        assert body["service_level_formula"] == "short-abandons-excluded"
        status, body = await get("/api/kpis?window=1h&queue=support")
        assert status == 200 and body["queue"]["offered"] == 3

        assert (await get("/api/kpis", None))[0] == 401
        status, body = await get("/api/kpis", AGENT)
        assert (status, body["error_id"]) == (403, "forbidden")
        status, body = await get("/api/kpis?window=2h")
        assert (status, body["error_id"]) == (400, "invalid-window")
        status, body = await get("/api/kpis?queue=nope")
        assert (status, body["error_id"]) == (404, "queue-not-found")

        redis_server.stop()
        await until(lambda: not feed.current)
        status, body = await get("/api/kpis?window=15m")
        assert (status, body["error_id"]) == (503, "kpis-not-current")
    finally:
        await wait(maybeDeferred(listening.stopListening))
        await feed.stop()
        await link.close()
