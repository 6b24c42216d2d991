"""The built-in helpdesk as a ticket backend: the same outbox path as the remote helpdesks
(so a database hiccup is retried like an outage), writing to :class:`Helpdesk`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from callcenter.domain.tickets import TicketDraft, TicketUpdate, Verdict
from callcenter.tickets.backends import DeliveryError
from callcenter.tickets.helpdesk import Helpdesk, TicketNotFoundError

T = TypeVar("T")
InThread = Callable[..., Awaitable[Any]]


class BuiltinBackend:
    name = "builtin"

    def __init__(self, helpdesk: Helpdesk, in_thread: InThread) -> None:
        self._helpdesk = helpdesk
        self._in_thread = in_thread

    async def create(self, draft: TicketDraft, key: str, previous_attempts: int) -> str:
        ticket_id = await self._run(self._helpdesk.create, draft, time.time())
        return str(ticket_id)

    async def update(
        self, ticket_ref: str, change: TicketUpdate, key: str, ticket: TicketDraft
    ) -> None:
        try:
            await self._run(self._helpdesk.apply, int(ticket_ref), change, time.time())
        except TicketNotFoundError as exc:
            raise DeliveryError(Verdict.DEAD, str(exc)) from exc

    async def close(self) -> None:
        return None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            result: T = await self._in_thread(fn, *args)
        except OperationalError as exc:  # database locked or unreachable: try again later
            raise DeliveryError(Verdict.RETRY, f"helpdesk database: {exc.orig!r}") from exc
        return result
