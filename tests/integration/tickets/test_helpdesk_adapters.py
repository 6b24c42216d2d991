"""Zendesk and Freshdesk adapters against local servers that check every request against the
documented API (auth, fields, types, enums) and answer with the documented responses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest_twisted
from prometheus_client import REGISTRY

from callcenter.aio import as_deferred
from callcenter.domain.tickets import TicketUpdate
from callcenter.tickets.freshdesk import FreshdeskBackend
from callcenter.tickets.outbox import DEAD, DONE, PENDING, Outbox
from callcenter.tickets.zendesk import ZendeskBackend
from tests.integration.tickets.kit import Clock, courier, database, deliver_all, draft
from tests.support.helpdesks import FakeFreshdesk, FakeZendesk, running

EMAIL, TOKEN, KEY = "api@example.com", "zd-token-123", "fd-key-456"


def zendesk(fake: FakeZendesk, token: str = TOKEN, timeout: float = 2.0) -> ZendeskBackend:
    return ZendeskBackend(fake.url, EMAIL, token, timeout)


def freshdesk(fake: FakeFreshdesk, key: str = KEY, timeout: float = 2.0) -> FreshdeskBackend:
    return FreshdeskBackend(fake.url, key, "cf_call_id", timeout)


@pytest_twisted.ensureDeferred
async def test_zendesk_tickets_match_the_documented_schema_and_reuse_the_requester(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(FakeZendesk(EMAIL, TOKEN)) as fake:
            outbox.add_create(draft("z-1"), clock.now)
            outbox.add_create(draft("z-2"), clock.now)  # same caller again
            c = courier(outbox, zendesk(fake), clock)
            await deliver_all(c, clock)
            outbox.add_update(TicketUpdate("z-1", "Refund issued", "charged twice", "ann"), 0)
            await deliver_all(c, clock)
            await c.stop()
        assert fake.violations == []
        assert len(fake.tickets) == 2 and len(fake.users) == 1  # one requester, reused
        (user,) = fake.users.values()
        assert user["phone"] == "+442079460123" and user["role"] == "end-user"
        creates = [r.json()["ticket"] for r in fake.requests if r.path == "/api/v2/tickets.json"]
        ticket = next(t for t in creates if t["external_id"].endswith("z-1"))
        assert set(ticket) == {
            "subject", "comment", "requester_id", "priority", "tags", "external_id"
        }  # fmt: skip
        assert ticket["priority"] == "high" and ticket["external_id"] == "callcenter-call:z-1"
        assert ticket["comment"]["public"] is False
        assert "Recording: https://cc/api/recordings/z-1/audio" in ticket["comment"]["body"]
        first = next(t for t in fake.tickets.values() if t["external_id"].endswith("z-1"))
        assert "disposition_refund_issued" in first["tags"]
        assert first["comments"][-1] == {
            "body": "Disposition: Refund issued\nNotes: charged twice",
            "public": False,
        }
        refs = {r.call_id: r.ticket_ref for r in outbox.rows(DONE, 10) if r.operation == "create"}
        assert refs["z-1"] == str(first["id"])

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_zendesk_timeout_after_creating_finds_the_ticket_instead_of_a_second_one(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(FakeZendesk(EMAIL, TOKEN)) as fake:
            outbox.add_create(draft("z-slow"), clock.now)
            c = courier(outbox, zendesk(fake, timeout=0.5), clock)
            fake.fail_next()  # nothing scripted for the user call…
            fake.slow_next(0)  # …user answers at once
            fake.slow_next(1.5)  # …the ticket is created, the answer is late
            await c.deliver_due()
            assert outbox.rows(PENDING, 10)[0].last_error
            await deliver_all(c, clock)
            await c.stop()
        assert len(fake.tickets) == 1
        lookups = [r for r in fake.requests if r.method == "GET"]
        assert lookups and lookups[0].query == {"external_id": ["callcenter-call:z-slow"]}
        (row,) = outbox.rows(DONE, 10)
        assert row.ticket_ref == str(next(iter(fake.tickets)))

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_zendesk_invalid_token_422_and_429(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        with running(FakeZendesk(EMAIL, TOKEN)) as fake:
            (tmp_path / "a").mkdir()
            bad = Outbox(database(tmp_path / "a"))
            bad.add_create(draft("z-auth"), clock.now)
            c = courier(bad, zendesk(fake, token="wrong"), clock)
            await c.deliver_due()
            await c.stop()
            (dead,) = bad.rows(DEAD, 10)
            assert dead.last_status == 401 and "Couldn't authenticate you" in (
                dead.last_error or ""
            )
            assert "invalid helpdesk credentials" in (dead.last_error or "")

            (tmp_path / "b").mkdir()
            outbox = Outbox(database(tmp_path / "b"))
            outbox.add_create(dataclasses.replace(draft("z-422"), priority="whenever"), clock.now)
            outbox.add_create(draft("z-429"), clock.now + 1)
            c = courier(outbox, zendesk(fake), clock)
            await c.deliver_due()  # z-422: user ok, ticket refused
            fake.fail_next(429, retry_after="45")
            clock.now += 2
            await c.deliver_due()
            await c.stop()
        dead_rows = {r.call_id: r for r in outbox.rows(DEAD, 10)}
        assert dead_rows["z-422"].last_status == 422
        assert "RecordInvalid" in (dead_rows["z-422"].last_error or "")
        assert "Priority: is not valid" in (dead_rows["z-422"].last_error or "")
        (waiting,) = outbox.rows(PENDING, 10)
        assert waiting.last_status == 429 and waiting.next_attempt_at >= clock.now + 45

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_freshdesk_tickets_match_the_documented_schema(tmp_path: Path) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        with running(FakeFreshdesk(KEY)) as fake:
            outbox.add_create(draft("f-1"), clock.now)
            outbox.add_create(draft("f-2", priority="urgent"), clock.now)
            c = courier(outbox, freshdesk(fake), clock)
            await deliver_all(c, clock)
            outbox.add_update(TicketUpdate("f-1", "Callback booked", None, "ann"), clock.now)
            await deliver_all(c, clock)
            await c.stop()
        assert fake.violations == []
        creates = [json.loads(r.body) for r in fake.requests if r.path == "/api/v2/tickets"]
        body = next(b for b in creates if b["custom_fields"]["cf_call_id"] == "f-1")
        assert set(body) == {
            "subject", "description", "phone", "name", "priority", "status", "source", "tags",
            "custom_fields",
        }  # fmt: skip
        assert (body["priority"], body["status"], body["source"]) == (3, 2, 3)
        assert body["custom_fields"] == {"cf_call_id": "f-1"}
        assert "<br>Recording: https://cc/api/recordings/f-1/audio" in body["description"]
        priorities = sorted(t["priority"] for t in fake.tickets.values())
        assert priorities == [3, 4]
        assert len({t["requester_id"] for t in fake.tickets.values()}) == 1  # same contact
        first = next(t for t in fake.tickets.values() if t["custom_fields"]["cf_call_id"] == "f-1")
        assert first["tags"] == [
            "callcenter",
            "queue_billing",
            "answered",
            "disposition_callback_booked",
        ]
        (note,) = fake.state.notes
        assert note["private"] is True and note["body"] == "Disposition: Callback booked"

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_freshdesk_faults_validation_auth_rate_limit_and_ambiguous_create(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        outbox, clock = Outbox(database(tmp_path)), Clock()
        labels = {"backend": "freshdesk"}
        alarms = REGISTRY.get_sample_value("callcenter_tickets_credential_alarms_total", labels)
        # A Freshdesk account without the call id custom field refuses the ticket: 400.
        with running(FakeFreshdesk(KEY, custom_fields=())) as fake:
            outbox.add_create(draft("f-400"), clock.now)
            c = courier(outbox, freshdesk(fake), clock)
            await c.deliver_due()
            await c.stop()
        (dead,) = outbox.rows(DEAD, 10)
        assert dead.last_status == 400
        assert "Validation failed" in (dead.last_error or "")
        assert "cf_call_id" in (dead.last_error or "")

        with running(FakeFreshdesk(KEY)) as fake:
            outbox.add_create(draft("f-401"), clock.now)
            c = courier(outbox, freshdesk(fake, key="nope"), clock)
            await c.deliver_due()
            await c.stop()
            refused = outbox.ticket_of("f-401")
            assert refused is not None and "invalid_credentials" in (refused.last_error or "")
            after = REGISTRY.get_sample_value("callcenter_tickets_credential_alarms_total", labels)
            assert (after or 0) - (alarms or 0) == 1

            outbox.add_create(draft("f-slow"), clock.now)
            c = courier(outbox, freshdesk(fake, timeout=0.5), clock)
            fake.fail_next(429, retry_after="30")
            await c.deliver_due()
            row = outbox.ticket_of("f-slow")
            assert row is not None and row.next_attempt_at >= clock.now + 30
            fake.slow_next(1.5)  # created, answered too late
            clock.now += 31
            await c.deliver_due()
            await deliver_all(c, clock)
            await c.stop()
            assert fake.violations == []
        assert [t["custom_fields"]["cf_call_id"] for t in fake.tickets.values()] == ["f-slow"]
        searches = [r.query["query"] for r in fake.requests if r.method == "GET"]
        # attempt 2 (after the 429) looks and finds nothing; attempt 3 finds the late one
        assert searches == [["\"call_id:'f-slow'\""]] * 2

    await as_deferred(scenario())
