"""Shared pieces of the ticket integration tests: a real SQLite history database, drafts,
and a courier driven round by round on a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine

from callcenter.domain.tickets import Backoff, Requester, TicketDraft
from callcenter.history.tables import metadata
from callcenter.tickets.backends import TicketBackend
from callcenter.tickets.courier import Courier, CourierSettings
from callcenter.tickets.outbox import DONE, Outbox

T0 = 1_800_000_000.0


def database(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'history.sqlite3'}")
    metadata.create_all(engine)
    return engine


def draft(call_id: str, phone: str = "+442079460123", priority: str = "high") -> TicketDraft:
    return TicketDraft(
        call_id=call_id,
        subject=f"Billing call from {phone}: billing \u203a card",
        description=f"Call {call_id} from {phone}\nRecording: https://cc/api/recordings/{call_id}/audio",
        requester=Requester(phone, "Ann Smith"),
        priority=priority,
        tags=("callcenter", "queue_billing", "answered"),
        queue="billing",
        agent="ann",
        outcome="completed",
        recording_url=f"https://cc/api/recordings/{call_id}/audio",
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def courier(outbox: Outbox, backend: TicketBackend, clock: Clock, timeout: float = 2.0) -> Courier:
    settings = CourierSettings(
        timeout_seconds=timeout,
        poll_seconds=0.05,
        backoff=Backoff(first_seconds=1.0, ceiling_seconds=60.0),
    )
    return Courier(outbox, backend, in_thread, settings, clock=clock, random=lambda: 1.0)


async def deliver_all(courier: Courier, clock: Clock, rounds: int = 20) -> int:
    """Rounds of delivery, the clock jumping past any backoff between them, until nothing is
    pending; answers the rounds it took."""
    for n in range(rounds):
        await courier.deliver_due()
        if all(r.state != "pending" for r in courier.outbox.rows(None, 1000)):
            return n + 1
        clock.now += 120.0
    raise AssertionError(f"still pending after {rounds} rounds: {courier.outbox.rows(None, 100)}")


def done_refs(outbox: Outbox) -> dict[str, str | None]:
    return {r.dedup_key: r.ticket_ref for r in outbox.rows(DONE, 1000)}
