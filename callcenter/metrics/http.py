"""``GET /metrics``: the Prometheus text exposition of all three sources.

Access: a bearer token with the supervisor role (``Authorization: Bearer <token>``, what
Prometheus sends with ``authorization: {credentials: …}``), ``401`` without a known token,
``403`` for a lower role, both as the API's JSON errors. ``metrics.public: true`` opens it to
anyone who reaches the HTTP port (then keep that port private).

-*- test-case-name: tests.e2e.test_metrics -*-
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.aio import as_deferred
from callcenter.kpi.feed import KpiFeed
from callcenter.metrics.live import LiveState, kpi_families, live_families
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import ApiError
from callcenter.web.json_api import write_json

log = logging.getLogger(__name__)

#: The classic text format ``generate_latest`` writes (Prometheus 2.x parses it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Page:
    """What ``generate_latest`` reads: every collector's families, in order."""

    def __init__(self, sources: Iterable[Iterable[Metric]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        return itertools.chain.from_iterable(self._sources)


class MetricsResource(Resource):
    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(
        self,
        auth: TokenAuth,
        public: bool,
        live: LiveState | None,
        kpis: KpiFeed | None,
        process: Iterable[Collector],
        clock: Callable[[], float],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._public = public
        self._live = live
        self._kpis = kpis
        self._process = list(process)
        self._clock = clock

    def render_GET(self, request: Request) -> int | bytes:  # noqa: N802 - twisted.web API name
        if not self._public:
            header = request.getHeader(b"authorization")
            try:
                self._auth.require(header.decode("latin-1") if header else None, "supervisor")
            except ApiError as exc:
                body = {"error_id": exc.error_id, "message": exc.message, "status": exc.status}
                write_json(request, exc.status, body)
                return NOT_DONE_YET
        d = as_deferred(self._page())
        d.addCallbacks(self._send, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return NOT_DONE_YET

    async def _page(self) -> bytes:
        now = self._clock()
        figures = await self._live.read(now) if self._live is not None else None
        feed = self._kpis
        shared = live_families(figures, now) + kpi_families(
            feed.book if feed else None, bool(feed and feed.current), now
        )
        sources: list[Iterable[Metric]] = [REGISTRY.collect()]
        sources += [c.collect() for c in self._process]
        sources.append(shared)
        return generate_latest(_Page(sources))

    def _send(self, page: bytes, request: Request) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        request.setResponseCode(200)
        request.setHeader(b"content-type", CONTENT_TYPE.encode())
        request.setHeader(b"cache-control", b"no-store")
        request.write(page)
        request.finish()

    def _failed(self, failure: Failure, request: Request) -> None:
        log.error("metrics page failed: %s", failure.getTraceback())
        if not request.finished:
            body = {"error_id": "internal", "message": "internal error", "status": 500}
            write_json(request, 500, body)
