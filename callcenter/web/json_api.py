"""A JSON endpoint on twisted.web: async handlers, role checks, errors as documented JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from callcenter.aio import as_deferred
from callcenter.store.link import RedisUnavailableError
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import (
    ApiError,
    BadRequestError,
    MethodNotAllowedError,
    ServiceUnavailableError,
)

log = logging.getLogger(__name__)

#: Largest JSON request body read (actions carry a few short fields).
MAX_BODY = 4096

Reply = tuple[int, Any]
Handler = Callable[[Request], Awaitable[Reply]]


def write_json(request: Request, status: int, body: Any) -> None:
    payload = json.dumps(body, indent=None, separators=(",", ":")).encode()
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    request.write(payload)
    request.finish()


class JsonEndpoint(Resource):
    """GET (and other methods) mapped to async handlers, each guarded by a minimum role.

    ``role=None`` makes a method public (health checks). Handlers return ``(status, body)``;
    they raise ``ApiError`` for client errors and ``RedisUnavailableError`` becomes 503.
    """

    isLeaf = True  # noqa: N815 - twisted.web API name

    def __init__(self, auth: TokenAuth, routes: dict[bytes, tuple[str | None, Handler]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._routes = routes

    def render(self, request: Request) -> int:
        method = request.method or b"GET"
        route = self._routes.get(method)
        d = as_deferred(self._serve(request, route))  # an asyncio task: handlers use redis.asyncio
        d.addErrback(self._crash, request)
        return NOT_DONE_YET

    async def _serve(self, request: Request, route: tuple[str | None, Handler] | None) -> None:
        try:
            if route is None:
                allowed = ", ".join(m.decode() for m in self._routes)
                request.setHeader(b"allow", allowed.encode())
                raise MethodNotAllowedError(f"method not allowed here; use {allowed}")
            role, handler = route
            if role is not None:
                header = request.getHeader(b"authorization")
                self._auth.require(header.decode("latin-1") if header else None, role)
            status, body = await handler(request)
        except ApiError as exc:
            status, body = exc.status, _error_body(exc)
        except RedisUnavailableError as exc:
            error = ServiceUnavailableError(f"live state unavailable: {exc}")
            status, body = error.status, _error_body(error)
        if not request.finished and not getattr(request, "_disconnected", False):
            write_json(request, status, body)

    def _crash(self, failure: Failure, request: Request) -> None:
        log.error("API handler failed: %s", failure.getTraceback())
        if not request.finished:
            write_json(
                request, 500, {"error_id": "internal", "message": "internal error", "status": 500}
            )


def _error_body(error: ApiError) -> dict[str, Any]:
    return {"error_id": error.error_id, "message": error.message, "status": error.status}


def query_arg(request: Request, name: str) -> str | None:
    values = (request.args or {}).get(name.encode())
    return values[0].decode() if values else None


def json_body(
    request: Request, limit: int = MAX_BODY, empty: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The request body as a JSON object; ``400`` saying what is wrong otherwise.

    ``empty``: what an empty body stands for where every field is optional (else it is a 400).
    """
    content = request.content
    raw = content.read(limit + 1) if content is not None else b""
    if len(raw) > limit:
        raise BadRequestError(f"request body over {limit} bytes")
    if not raw and empty is not None:
        return dict(empty)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object")
    return body
