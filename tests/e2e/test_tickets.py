"""Tickets from real calls: an answered call caller → agent gets one ticket in the built-in
helpdesk with its recording link and the agent's wrap-up sent through the API; an abandoned
call gets one too; and tickets queued while the helpdesk is down survive a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import tone
from tests.support.helpdesks import WebhookReceiver, running
from tests.support.phone import start_agent_phone, start_phone
from tests.support.service import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    SUPERVISOR_TOKEN,
    Service,
    running_service,
)

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"
ANN_TOKEN = "e2e-ann-bound-token-0123456789"
BOB_TOKEN = "e2e-bob-bound-token-0123456789"
SECRET = "e2e-webhook-secret"

SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},
    "http": {
        "tokens": {
            ADMIN_TOKEN: "admin",
            SUPERVISOR_TOKEN: "supervisor",
            AGENT_TOKEN: "agent",
            ANN_TOKEN: "agent:ann",
            BOB_TOKEN: "agent:bob",
        }
    },
    "queues": {
        "billing": {"ring_timeout_seconds": 5, "wrap_up_seconds": 30, "ticket_priority": "high"},
        "support": {"ring_timeout_seconds": 5, "wrap_up_seconds": 1},
    },
    "agents": [
        {"id": "ann", "name": "Ann", "password": PASSWORD, "queues": ["billing"]},
        {"id": "bob", "name": "Bob", "password": PASSWORD, "queues": ["support"]},
    ],
    "tickets": {"public_base_url": "https://cc.example.com"},
}


def _until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last}")


def _ticket_of(service: Service, call_id: str) -> dict[str, Any] | None:
    status, body = service.api(f"/api/tickets?call_id={call_id}", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    tickets = body["tickets"]
    assert len(tickets) <= 1, tickets
    return tickets[0] if tickets else None


def test_an_answered_call_and_an_abandoned_call_each_get_one_ticket(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=SETTINGS) as service:
        ann = start_agent_phone(
            register=f"sip:{service.sip_uri_host}",
            username="ann",
            password=PASSWORD,
            play=tone(tmp_path / "ann.wav", 1000),
            wait=40,
            duration=3,
            answer_after=0.5,
        )
        assert ann.wait_ready().get("registered")
        status, body = service.api("/api/agents/ann/login", token=ANN_TOKEN, method="POST", body={})
        assert status == 200, body
        caller = start_phone(
            f"sip:100@{service.sip_uri_host}",
            dtmf=[(0.5, "1", "rfc4733")],  # billing
            play=tone(tmp_path / "caller.wav", 440),
            loop=True,
            duration=8.0,
        )
        answered = caller.wait()
        assert answered.answered and answered.call_id is not None
        call_id = answered.call_id
        assert ann.wait_agent().answered
        service.wait_call(call_id, lambda r: r["ended_at"] is not None, timeout=30)

        # The wrap-up, from ann's desktop (bob did not take the call; bad fields are refused).
        url = f"/api/calls/{call_id}/disposition"
        wrap_up = {"disposition": "Refund issued", "notes": "card charged twice"}
        status, body = service.api(url, token=BOB_TOKEN, method="POST", body=wrap_up)
        assert (status, body["error_id"]) == (409, "not-your-call"), body
        status, body = service.api(url, token=ANN_TOKEN, method="POST", body={"disposition": 7})
        assert (status, body["error_id"]) == (400, "invalid-disposition"), body
        status, body = service.api(url, token=ANN_TOKEN, method="POST", body=wrap_up)
        assert status == 202 and body["agent"] == "ann", body

        ticket = _until(
            lambda: (t := _ticket_of(service, call_id)) and t["disposition"] and t,
            what="a ticket with the disposition",
        )
        assert ticket["subject"].startswith("Billing call from ")
        assert ticket["priority"] == "high" and ticket["agent"] == "ann"
        assert ticket["disposition"] == "Refund issued" and ticket["notes"] == "card charged twice"
        assert {"answered", "queue_billing", "disposition_refund_issued"} <= set(ticket["tags"])
        assert "Agent: ann" in ticket["description"]
        link = f"https://cc.example.com/api/recordings/{call_id}/audio"  # recorded by default
        assert ticket["recording_url"] == link
        assert f"Recording: {link}" in ticket["description"]
        status, mine = service.api(f"/api/tickets/{ticket['id']}", token=ANN_TOKEN)
        assert status == 200 and mine["call_id"] == call_id
        status, body = service.api(
            f"/api/tickets/{ticket['id']}", token=SUPERVISOR_TOKEN, method="PATCH",
            body={"status": "finished"},
        )  # fmt: skip
        assert (status, body["error_id"]) == (400, "invalid-status"), body

        # Nobody in support is logged in: this caller waits, then gives up.
        quitter = start_phone(
            f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "2", "rfc4733")], duration=5.0
        )
        abandoned = quitter.wait()
        assert abandoned.call_id is not None
        record = service.wait_call(abandoned.call_id, lambda r: r["ended_at"] is not None)
        assert record["outcome"] == "abandoned"
        ticket = _until(lambda: _ticket_of(service, str(abandoned.call_id)), what="ticket")
        assert ticket["subject"].startswith("Support call from ")
        assert "abandoned" in ticket["tags"] and ticket["agent"] is None
        status, body = service.api("/api/tickets/outbox?state=done", token=SUPERVISOR_TOKEN)
        assert body["states"]["dead"] == 0 and body["states"]["pending"] == 0, body
        creates = [r for r in body["rows"] if r["operation"] == "create"]
        assert sorted(r["call_id"] for r in creates) == sorted([call_id, abandoned.call_id])


def test_tickets_queued_while_the_helpdesk_is_down_survive_a_restart(tmp_path: Path) -> None:
    receiver = WebhookReceiver(SECRET)  # not listening yet: the helpdesk is down
    settings = dict(SETTINGS)
    settings["tickets"] = {
        "backend": "webhook",
        "webhook": {"url": receiver.url + "/tickets", "secret": SECRET},
        "first_retry_seconds": 0.5,
        "max_retry_seconds": 2,
    }
    data_dir = tmp_path / "data"
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    with running_service(tmp_path / "first", settings=settings, data_dir=data_dir) as service:
        caller = start_phone(
            f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "2", "rfc4733")], duration=4.0
        )
        call_id = caller.wait().call_id
        assert call_id is not None
        service.wait_call(call_id, lambda r: r["ended_at"] is not None)

        def failing() -> Any:
            _, body = service.api("/api/tickets/outbox?state=pending", SUPERVISOR_TOKEN)
            rows = [r for r in body["rows"] if r["call_id"] == call_id and r["attempts"] >= 1]
            return rows and "cannot connect" in (rows[0]["reason"] or "") and rows

        _until(failing, what="a failed delivery attempt")
        status, body = service.api("/api/tickets", token=SUPERVISOR_TOKEN)
        assert (status, body["error_id"]) == (404, "builtin-helpdesk-off")
        assert service.stop() == 0

    with (
        running(receiver),
        running_service(tmp_path / "second", settings=settings, data_dir=data_dir) as service,
    ):
        _until(lambda: receiver.created(), what="the ticket delivered after the restart")
        time.sleep(1.0)  # a second delivery, were there one, would come within this
        (event,) = receiver.created()
        assert event["ticket"]["call_id"] == call_id
        assert receiver.duplicates == [] and receiver.violations == []
        status, body = service.api("/api/tickets/outbox?state=done", token=SUPERVISOR_TOKEN)
        assert [r["call_id"] for r in body["rows"]] == [call_id]
