"""``GET /api/kpis?window=15m|1h|today[&queue=<name>]`` (supervisor): KPI figures.

Without ``queue``: every queue and ``overall``; with it, that queue alone. Figures come from the
process's :class:`KpiFeed` (all of today's event log), so any ``serve`` process answers the
same. While the feed is not current (Redis lost, or today's log still being read) the answer
is ``503 kpis-not-current`` rather than figures that silently stopped moving.

-*- test-case-name: tests.integration.kpi.test_http -*-
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.web.server import Request

from callcenter.domain.kpi import Window
from callcenter.kpi.feed import KpiFeed
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import BadRequestError, NotFoundError, ServiceUnavailableError
from callcenter.web.json_api import JsonEndpoint, Reply, query_arg


class InvalidWindowError(BadRequestError):
    error_id = "invalid-window"


class QueueNotFoundError(NotFoundError):
    error_id = "queue-not-found"


class KpisNotCurrentError(ServiceUnavailableError):
    error_id = "kpis-not-current"


def kpis_endpoint(auth: TokenAuth, feed: KpiFeed, clock: Callable[[], float]) -> JsonEndpoint:
    async def get(request: Request) -> Reply:
        raw = query_arg(request, "window") or Window.TODAY.value
        try:
            window = Window(raw)
        except ValueError:
            choices = ", ".join(w.value for w in Window)
            raise InvalidWindowError(f"window {raw!r} is not one of {choices}") from None
        if not feed.current:
            raise KpisNotCurrentError(
                "KPI figures are not current: the event log cannot be read (Redis lost?)"
            )
        book, now = feed.book, clock()
        queue = query_arg(request, "queue")
        body: dict[str, object] = {
            "window": window.value,
            "at": now,
            "service_level_formula": book.formula.value,
        }
        if queue is not None:
            if queue not in book.queues:
                raise QueueNotFoundError(f"no queue {queue!r}")
            body["queue"] = book.queue_kpis(queue, window, now).as_json()
            return 200, body
        body["queues"] = {q: k.as_json() for q, k in book.all_queues(window, now).items()}
        body["overall"] = book.overall(window, now).as_json()
        return 200, body

    return JsonEndpoint(auth, {b"GET": ("supervisor", get)})
