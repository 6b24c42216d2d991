"""The outbox on each history database (SQLite and PostgreSQL): one create per call even when
queued twice, atomic claims by two couriers, a wrap-up folded or queued, dead-letter and
re-queue."""

from __future__ import annotations

import asyncio

import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.domain.tickets import TicketUpdate
from callcenter.history.database import HistoryDatabase
from callcenter.tickets.outbox import DEAD, DONE, PENDING, Outbox
from callcenter.tickets.webhook import WebhookBackend
from tests.integration.tickets.kit import Clock, courier, deliver_all, draft
from tests.support.helpdesks import WebhookReceiver, running

SECRET = "outbox-db-secret"


@pytest_twisted.ensureDeferred
async def test_outbox_delivers_each_ticket_once_on_this_database(history_url: str) -> None:
    async def scenario() -> None:
        db = HistoryDatabase(history_url)
        db.create_schema()
        clock = Clock()
        outbox = Outbox(db.engine)
        try:
            with running(WebhookReceiver(SECRET)) as receiver:
                for n in range(12):
                    outbox.add_create(draft(f"db-{n}"), clock.now)
                    outbox.add_create(draft(f"db-{n}"), clock.now)  # queued twice: one row
                assert outbox.add_update(TicketUpdate("db-0", "Sale", None), clock.now) == "folded"
                receiver.fail_next(503, 503, 503)
                url = receiver.url + "/t"
                couriers = [
                    courier(Outbox(db.engine), WebhookBackend(url, SECRET, 2.0), clock)
                    for _ in range(2)
                ]
                for _ in range(6):
                    await asyncio.gather(*(c.deliver_due() for c in couriers))
                    clock.now += 120
                assert outbox.add_update(TicketUpdate("db-1", "Later", "x"), clock.now) == "queued"
                await deliver_all(couriers[0], clock)
                receiver.fail_next(422)
                outbox.add_create(draft("db-refused"), clock.now)
                await couriers[1].deliver_due()
                for c in couriers:
                    await c.stop()
            created = receiver.created()
            assert sorted(e["ticket"]["call_id"] for e in created) == sorted(
                f"db-{n}" for n in range(12)
            )
            assert receiver.duplicates == []
            assert (
                next(e for e in created if e["ticket"]["call_id"] == "db-0")["ticket"][
                    "disposition"
                ]
                == "Sale"
            )
            assert outbox.counts() == {PENDING: 0, DONE: 13, DEAD: 1}
            (dead,) = outbox.rows(DEAD, 10)
            assert dead.call_id == "db-refused" and dead.last_status == 422
            assert outbox.requeue(dead.id, clock.now)
            assert not outbox.requeue(dead.id, clock.now)
        finally:
            db.dispose()

    await as_deferred(scenario())
