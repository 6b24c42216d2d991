"""``GET /api/calls`` (recent calls, newest first) and ``GET /api/calls/{id}`` (one call).

Call records name callers, so reading them needs the supervisor role.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.store.call_records import CallRecords
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import BadRequestError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg

MAX_LIMIT = 1000


class CallsResource(Resource):
    def __init__(self, auth: TokenAuth, records: CallRecords) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._records = records
        self._list = JsonEndpoint(auth, {b"GET": ("supervisor", self._recent)})

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path == b"":
            return self._list
        call_id = path.decode("utf-8", "replace")

        async def one(_: Request) -> Reply:
            record = await self._records.get(call_id)
            if record is None:
                raise NotFoundError(f"no call with id {call_id!r}")
            return 200, record

        return JsonEndpoint(self._auth, {b"GET": ("supervisor", one)})

    def render(self, request: Request) -> Any:
        return self._list.render(request)

    async def _recent(self, request: Request) -> Reply:
        limit = _number(query_arg(request, "limit"), "limit", 50.0)
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequestError(f"limit must be between 1 and {MAX_LIMIT}")
        before = query_arg(request, "before")
        calls = await self._records.recent(
            int(limit), None if before is None else _number(before, "before", 0.0)
        )
        return 200, {"calls": calls, "count": len(calls)}


def _number(raw: str | None, name: str, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a number, got {raw!r}") from None
