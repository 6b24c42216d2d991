"""``GET /api/calls`` (calls, newest first, filtered) and ``GET /api/calls/{id}`` (one call).

A finished call is read from the history database (its settled record: queue attempts, legs,
talk, hold, wrap-up, who hung up); a call the history has not finished yet (in progress, or
its last events not written yet) is read from its live record in Redis, so no call ever
disappears from the API between the two. Call records name callers, so reading them needs
the supervisor role.

Actions on one call (``/api/calls/{id}/<action>``, e.g. a supervisor's ``queue`` and
``priority``) are added by the features that own them with :meth:`CallsResource.add_action`;
each sets its own roles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from twisted.web.resource import Resource
from twisted.web.server import Request

from callcenter.calls.errors import CallNotFoundError
from callcenter.history.queries import CallFilter, parse_time
from callcenter.store.call_records import CallRecords
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import BadRequestError, NotFoundError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg

log = logging.getLogger(__name__)

MAX_LIMIT = 1000


class CallHistory(Protocol):
    async def call(self, call_id: str) -> dict[str, Any] | None: ...

    async def calls(self, which: CallFilter) -> list[dict[str, Any]]: ...


class CallsResource(Resource):
    def __init__(
        self, auth: TokenAuth, records: CallRecords, history: CallHistory | None = None
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._auth = auth
        self._records = records
        self._history = history
        self._list = JsonEndpoint(auth, {b"GET": ("supervisor", self._recent)})
        self._actions: dict[bytes, Callable[[str], Resource]] = {}

    def add_action(self, name: bytes, endpoint: Callable[[str], Resource]) -> None:
        """Serve ``/api/calls/{id}/<name>`` with ``endpoint(call_id)``."""
        self._actions[name] = endpoint

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path == b"":
            return self._list
        return _CallResource(self, path.decode("utf-8", "replace"))

    def one(self, call_id: str) -> Resource:
        async def show(_: Request) -> Reply:
            record = await self._one(call_id)
            if record is None:
                raise CallNotFoundError(call_id)
            return 200, record

        return JsonEndpoint(self._auth, {b"GET": ("supervisor", show)})

    def action(self, call_id: str, name: bytes) -> Resource:
        endpoint = self._actions.get(name)
        if endpoint is not None:
            return endpoint(call_id)
        known = ", ".join(sorted(n.decode() for n in self._actions)) or "none"

        async def missing(_: Request) -> Reply:
            shown = name.decode("utf-8", "replace")[:40]
            raise NotFoundError(f"no call action {shown!r}; actions: {known}")

        return JsonEndpoint(self._auth, {m: ("supervisor", missing) for m in (b"GET", b"POST")})

    def render(self, request: Request) -> Any:
        return self._list.render(request)

    async def _one(self, call_id: str) -> dict[str, Any] | None:
        live = await self._records.get(call_id)
        settled = None
        if self._history is not None:
            try:
                settled = await self._history.call(call_id)
            except Exception as exc:  # the database is down: the live record still answers
                log.warning("history unavailable for GET /api/calls/%s: %s", call_id, exc)
        return _pick(settled, live)

    async def _recent(self, request: Request) -> Reply:
        which = _filter(request)
        live = [
            record
            for record in await self._records.recent(which.limit, which.before)
            if which.matches(record)
        ]
        settled: list[dict[str, Any]] = []
        if self._history is not None:
            try:
                settled = await self._history.calls(which)
            except Exception as exc:  # the database is down: recent live records still answer
                log.warning("history unavailable for GET /api/calls: %s", exc)
        by_id: dict[str, dict[str, Any]] = {}
        for record in settled:
            by_id[record["call_id"]] = record
        for record in live:
            chosen = _pick(by_id.get(record["call_id"]), record)
            if chosen is not None:
                by_id[record["call_id"]] = chosen
        calls = sorted(by_id.values(), key=lambda r: r.get("arrived_at") or 0.0, reverse=True)
        calls = calls[: which.limit]
        body: dict[str, Any] = {"calls": calls, "count": len(calls)}
        if len(calls) == which.limit:
            body["next_before"] = calls[-1].get("arrived_at")
        return 200, body


def _pick(settled: dict[str, Any] | None, live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The history's record once it has the call's end; the live one until then."""
    if settled is not None and (settled.get("finalized") or live is None):
        if live is not None:  # the live record's own fields, exactly as it has always had them
            settled.update(live)
            settled["source"] = "history"
        return settled
    if live is not None:
        live.setdefault("source", "live")
    return live


def _filter(request: Request) -> CallFilter:
    limit = _number(query_arg(request, "limit"), "limit", 50.0)
    if not 1 <= limit <= MAX_LIMIT or limit != int(limit):
        raise BadRequestError(f"limit must be a whole number between 1 and {MAX_LIMIT}")
    before = query_arg(request, "before")
    return CallFilter(
        since=_time(query_arg(request, "from"), "from"),
        until=_time(query_arg(request, "to"), "to"),
        queue=query_arg(request, "queue") or None,
        agent=query_arg(request, "agent") or None,
        outcome=query_arg(request, "outcome") or None,
        caller=query_arg(request, "caller") or None,
        before=None if before is None else _number(before, "before", 0.0),
        limit=int(limit),
    )


def _time(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw, end_of_day=name == "to")
    except ValueError as exc:
        raise BadRequestError(f"{name}: {exc}") from None


def _number(raw: str | None, name: str, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a number, got {raw!r}") from None


class _CallResource(Resource):
    """``/api/calls/{id}`` and its actions."""

    def __init__(self, parent: CallsResource, call_id: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._parent = parent
        self._call_id = call_id

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web API
        if path == b"":
            return self._parent.one(self._call_id)
        return self._parent.action(self._call_id, path)

    def render(self, request: Request) -> Any:
        return self._parent.one(self._call_id).render(request)
