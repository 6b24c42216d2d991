"""The wallboard over HTTP: the page, a session cookie, the board as JSON and as a live stream.

================================  ==========  ================================================
method, path                      role        answer
================================  ==========  ================================================
``GET /wallboard``                none        the page (HTML, CSS, JS; holds no data)
``POST /api/wallboard/session``   supervisor  ``Set-Cookie`` for the stream (bearer token only)
``GET /api/wallboard``            supervisor  the board now, as JSON (bearer or cookie)
``GET /api/wallboard/events``     supervisor  ``text/event-stream``: snapshot, updates, ticks
================================  ==========  ================================================

The page is static: three files shipped as package data, no build step, nothing fetched from
elsewhere (a ``Content-Security-Policy`` of ``'self'`` says so to the browser).

-*- test-case-name: tests.integration.live.test_wallboard_http -*-
"""

from __future__ import annotations

import logging
from importlib import resources

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.live.access import WallboardAccess
from callcenter.live.feed import LiveFeed
from callcenter.web.errors import ApiError, MethodNotAllowedError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, write_json

log = logging.getLogger(__name__)

#: How soon a page's EventSource reconnects after losing the stream (milliseconds).
RETRY_MS = 1000

_ASSETS = {
    b"": ("wallboard.html", b"text/html; charset=utf-8"),
    b"wallboard.js": ("wallboard.js", b"text/javascript; charset=utf-8"),
    b"wallboard.css": ("wallboard.css", b"text/css; charset=utf-8"),
}
_CSP = (
    b"default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self';"
    b" script-src 'self'; frame-ancestors 'none'"
)


def _asset(name: str) -> bytes:
    return (resources.files("callcenter.live") / "static" / name).read_bytes()


class WallboardPage(Resource):
    """``/wallboard`` and its two files, read once from the package."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._files = {path: (_asset(name), kind) for path, (name, kind) in _ASSETS.items()}

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted API
        if path in self._files and not [p for p in (request.postpath or []) if p]:
            return _Asset(*self._files[path])
        return _Missing()

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 - twisted API
        body, kind = self._files[b""]
        return _serve(request, body, kind)


class _Asset(Resource):
    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(self, body: bytes, kind: bytes) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._body, self._kind = body, kind

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 - twisted API
        return _serve(request, self._body, self._kind)


class _Missing(Resource):
    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def render(self, request: Request) -> int:
        write_json(request, 404, _error(NotFoundError("nothing here")))
        return NOT_DONE_YET


def _serve(request: Request, body: bytes, kind: bytes) -> bytes:
    request.setHeader(b"content-type", kind)
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"content-security-policy", _CSP)
    return body


class WallboardApi(Resource):
    """``/api/wallboard`` (the board as JSON) with ``session`` and ``events`` below it."""

    def __init__(self, access: WallboardAccess, feed: LiveFeed) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._access = access
        self._feed = feed
        # role None: these endpoints check the bearer header *or* the cookie themselves.
        self._board = JsonEndpoint(access.auth, {b"GET": (None, self._read)})
        self.putChild(b"", self._board)
        self.putChild(b"session", JsonEndpoint(access.auth, {b"POST": (None, self._session)}))
        self.putChild(b"events", WallboardEvents(access, feed))

    def render(self, request: Request) -> int:
        return self._board.render(request)

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted API
        return _Missing()  # anything but session/events: a JSON 404 like the rest of /api

    async def _read(self, request: Request) -> Reply:
        self._access.principal(request)
        board = await self._feed.read()
        return 200, {**board.full(), "live": True}

    async def _session(self, request: Request) -> Reply:
        header = request.getHeader(b"authorization")
        value, expires = self._access.issue(header.decode("latin-1") if header else None)
        request.setHeader(b"set-cookie", self._access.cookie_header(value, expires))
        return 200, {"expires_at": expires}


class WallboardEvents(Resource):
    """``GET /api/wallboard/events``: the live feed as Server-Sent Events."""

    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(self, access: WallboardAccess, feed: LiveFeed) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._access = access
        self._feed = feed

    def render(self, request: Request) -> int:
        try:
            if request.method != b"GET":
                request.setHeader(b"allow", b"GET")
                raise MethodNotAllowedError("method not allowed here; use GET")
            if [p for p in (request.postpath or []) if p]:
                raise NotFoundError("nothing below /api/wallboard/events")
            self._access.principal(request)
        except ApiError as exc:
            write_json(request, exc.status, _error(exc))
            return NOT_DONE_YET
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")  # a proxy in front must not buffer
        request.write(f"retry: {RETRY_MS}\n\n".encode())
        listener = _Stream(request)
        self._feed.subscribe(listener)
        request.notifyFinish().addBoth(lambda _: self._feed.unsubscribe(listener))
        return NOT_DONE_YET


class _Stream:
    """One page's open response."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def send(self, frame: bytes) -> None:
        request = self._request
        if request.finished or getattr(request, "_disconnected", False):
            raise ConnectionError("the page went away")
        request.write(frame)


def _error(error: ApiError) -> dict[str, object]:
    return {"error_id": error.error_id, "message": error.message, "status": error.status}
