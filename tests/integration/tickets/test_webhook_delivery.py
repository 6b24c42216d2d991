"""The outbox delivering to a webhook receiver that fails, is slow, is down, refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest_twisted
from prometheus_client import REGISTRY

from callcenter.aio import as_deferred
from callcenter.domain.tickets import TicketUpdate
from callcenter.tickets.courier import Courier
from callcenter.tickets.outbox import DEAD, DONE, PENDING, Outbox
from callcenter.tickets.webhook import WebhookBackend
from tests.integration.tickets.kit import Clock, courier, database, deliver_all, draft, in_thread
from tests.support.helpdesks import WebhookReceiver, running

SECRET = "s3cret-shared-with-the-receiver"


def webhook(
    receiver: WebhookReceiver, timeout: float = 2.0, secret: str = SECRET
) -> WebhookBackend:
    return WebhookBackend(receiver.url + "/hooks/tickets", secret, timeout)


@pytest_twisted.ensureDeferred
async def test_a_receiver_failing_for_a_while_gets_each_ticket_exactly_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(WebhookReceiver(SECRET)) as receiver:
            for n in range(5):
                outbox.add_create(draft(f"call-{n}"), clock.now)
            receiver.fail_next(503, 502, 500, 503, 504, 503, 500, 503)  # an outage
            c = courier(outbox, webhook(receiver), clock)
            rounds = await deliver_all(c, clock)
            await c.stop()
        created = receiver.created()
        assert sorted(e["ticket"]["call_id"] for e in created) == [f"call-{n}" for n in range(5)]
        assert receiver.duplicates == [] and receiver.violations == []
        assert rounds >= 2
        rows = outbox.rows(DONE, 10)
        assert len(rows) == 5 and all(r.ticket_ref and r.ticket_ref.startswith("T") for r in rows)
        assert max(r.attempts for r in rows) >= 2

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_a_slow_receiver_times_out_and_the_retry_creates_no_second_ticket(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(WebhookReceiver(SECRET)) as receiver:
            outbox.add_create(draft("slow-1"), clock.now)
            receiver.slow_next(1.5)  # processed, but the answer comes after our timeout
            c = courier(outbox, webhook(receiver, timeout=0.5), clock)
            await c.deliver_due()
            (row,) = outbox.rows(None, 10)
            assert row.state == PENDING and "no answer" in (row.last_error or "")
            await deliver_all(c, clock)
            await c.stop()
        assert len(receiver.created()) == 1
        keys = [r.headers["idempotency-key"] for r in receiver.requests]
        assert keys == ["slow-1:create", "slow-1:create"]  # the same key both times
        assert outbox.rows(DONE, 10)[0].attempts == 2

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_helpdesk_down_then_back_and_a_restart_in_between_loses_nothing(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = Clock()
        receiver = WebhookReceiver(SECRET)  # not started: nobody listens on its port
        first = Outbox(database(tmp_path))
        for n in range(3):
            first.add_create(draft(f"down-{n}"), clock.now)
        c1 = courier(first, webhook(receiver), clock)
        await c1.deliver_due()
        assert {r.state for r in first.rows(None, 10)} == {PENDING}
        assert all("cannot connect" in (r.last_error or "") for r in first.rows(None, 10))
        # A second courier claims rows and dies mid-delivery (its lease must run out).
        dead_worker = await in_thread(first.claim, "crashed-worker", clock.now + 120, 60.0, 10)
        assert len(dead_worker) == 3
        await c1.stop()

        # "Restart": a new engine, outbox and courier on the same database file.
        clock.now += 200.0
        with running(receiver):
            again = Outbox(database(tmp_path))
            c2 = courier(again, webhook(receiver), clock)
            await deliver_all(c2, clock)
            await c2.stop()
        assert sorted(e["ticket"]["call_id"] for e in receiver.created()) == [
            "down-0",
            "down-1",
            "down-2",
        ]
        assert receiver.duplicates == []

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_wrong_secret_is_dead_lettered_with_the_reason_and_alarmed(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        labels = {"backend": "webhook"}
        before = REGISTRY.get_sample_value("callcenter_tickets_credential_alarms_total", labels)
        with running(WebhookReceiver(SECRET)) as receiver:
            outbox.add_create(draft("auth-1"), clock.now)
            c = courier(outbox, webhook(receiver, secret="not-the-secret"), clock)
            await c.deliver_due()
            await c.stop()
        (row,) = outbox.rows(DEAD, 10)
        assert row.last_status == 401
        assert "invalid helpdesk credentials" in (row.last_error or "")
        after = REGISTRY.get_sample_value("callcenter_tickets_credential_alarms_total", labels)
        assert (after or 0) - (before or 0) == 1
        assert outbox.requeue(row.id, clock.now) and outbox.rows(PENDING, 10)[0].attempts == 0

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_refusals_are_dead_lettered_and_429_waits_for_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(WebhookReceiver(SECRET)) as receiver:
            outbox.add_create(draft("limited"), clock.now)
            receiver.fail_next(429, retry_after="90")
            c = courier(outbox, webhook(receiver), clock)
            await c.deliver_due()
            (row,) = outbox.rows(PENDING, 10)
            assert row.last_status == 429 and row.next_attempt_at >= clock.now + 90

            outbox.add_create(draft("refused"), clock.now)
            receiver.fail_next(422)
            await c.deliver_due()
            await c.stop()
        dead = {r.call_id: r for r in outbox.rows(DEAD, 10)}
        assert dead["refused"].last_status == 422 and "422" in (dead["refused"].last_error or "")

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_a_wrap_up_is_folded_into_an_unsent_ticket_or_sent_as_an_update(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(WebhookReceiver(SECRET)) as receiver:
            outbox.add_create(draft("fold"), clock.now)
            assert outbox.add_update(TicketUpdate("fold", "Refund", "twice"), clock.now) == "folded"
            c = courier(outbox, webhook(receiver), clock)
            await deliver_all(c, clock)
            assert outbox.add_update(TicketUpdate("fold", "Callback", None), clock.now) == "queued"
            await deliver_all(c, clock)
            await c.stop()
        (created,) = receiver.created()
        assert created["ticket"]["disposition"] == "Refund"
        assert "disposition_refund" in created["ticket"]["tags"]
        (update,) = [e for e in receiver.tickets.values() if e["event"] == "ticket.update"]
        assert update["ticket_ref"] == created["id"]
        assert update["update"]["disposition"] == "Callback"

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_two_couriers_on_one_database_never_send_a_row_twice(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(WebhookReceiver(SECRET)) as receiver:
            for n in range(30):
                outbox.add_create(draft(f"race-{n}"), clock.now)
            couriers: list[Courier] = [
                courier(Outbox(database(tmp_path)), webhook(receiver), clock) for _ in range(2)
            ]
            for _ in range(4):
                await asyncio.gather(*(c.deliver_due() for c in couriers))
            for c in couriers:
                await c.stop()
        assert len(receiver.created()) == 30
        assert len(receiver.requests) == 30  # each row sent once, by one courier
        assert len(outbox.rows(DONE, 100)) == 30

    await as_deferred(scenario())
