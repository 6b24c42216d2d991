"""Which calls get a ticket, what it says, and the retry schedule of its delivery."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from callcenter.domain.history import CallSummary, QueueAttempt
from callcenter.domain.tickets import (
    Backoff,
    TicketDraft,
    TicketRules,
    Verdict,
    build_ticket,
    parse_retry_after,
    retry_delay,
    verdict_for_status,
    wants_ticket,
)

T0 = 1_700_000_000.0
RULES = TicketRules(public_base_url="https://cc.example.com/", queue_priorities={"billing": "high"})


def summary(**changes: Any) -> CallSummary:
    base = CallSummary(
        call_id="c-1",
        caller="+442079460123",
        caller_name="Ann Smith",
        did="100",
        flow="support.yaml",
        arrived_at=T0,
        answered_at=T0 + 1,
        ended_at=T0 + 95,
        duration=95.0,
        outcome="completed",
        ended_by="caller",
        end_reason=None,
        ivr_path=("menu", "billing_menu", "card"),
        digits=("1", "2"),
        choices=("billing", "card"),
        queue="billing",
        queues=("billing",),
        priority=0,
        wait_seconds=12.0,
        agent="ann",
        connected_at=T0 + 20,
        talk_seconds=75.0,
        hold_seconds=5.0,
        wrap_up_seconds=10.0,
        after_hours=False,
        recording_url="/api/recordings/c-1/audio",
        disposition=None,
        notes=None,
        attempts=(QueueAttempt("billing", T0 + 8, T0 + 20, "answered", "ann", 12.0),),
        legs=(),
    )
    return dataclasses.replace(base, **changes)


def abandoned() -> CallSummary:
    return summary(
        outcome="abandoned",
        agent=None,
        connected_at=None,
        talk_seconds=None,
        hold_seconds=None,
        recording_url=None,
        attempts=(QueueAttempt("billing", T0 + 8, T0 + 40, "abandoned", None, 32.0),),
    )


def test_calls_that_reached_an_agent_were_abandoned_or_came_after_hours_get_a_ticket() -> None:
    assert wants_ticket(summary())
    assert wants_ticket(abandoned())
    ivr_only = summary(
        queue=None, queues=(), agent=None, connected_at=None, attempts=(), outcome="completed"
    )
    assert not wants_ticket(ivr_only)
    assert wants_ticket(dataclasses.replace(ivr_only, after_hours=True))


def test_subject_names_the_queue_the_caller_and_the_ivr_choices() -> None:
    draft = build_ticket(summary(), RULES)
    assert draft.subject == "Billing call from +442079460123: billing \u203a card"
    after = summary(queue=None, after_hours=True, choices=())
    assert build_ticket(after, RULES).subject == "After-hours call from +442079460123"


def test_requester_is_the_caller_number_and_priority_comes_from_the_queue() -> None:
    draft = build_ticket(summary(), RULES)
    assert draft.requester.phone == "+442079460123"
    assert draft.requester.name == "Ann Smith"
    assert draft.priority == "high"
    assert build_ticket(summary(queue="sales"), RULES).priority == "normal"


def test_description_has_the_call_facts_and_an_absolute_recording_link() -> None:
    draft = build_ticket(summary(), RULES)
    link = "https://cc.example.com/api/recordings/c-1/audio"
    assert draft.recording_url == link
    text = draft.description
    assert f"Recording: {link}" in text
    assert "Queue: billing, waited 12s" in text
    assert "Agent: ann, talked 1m15s, on hold 5s" in text
    assert "IVR choices: billing \u203a card" in text
    assert "2023-11-14 22:13:20 UTC" in text


def test_tags_say_queue_outcome_and_why_the_ticket_exists() -> None:
    assert build_ticket(summary(), RULES).tags == (
        "callcenter",
        "outcome_completed",
        "queue_billing",
        "answered",
        "recorded",
    )
    tags = build_ticket(dataclasses.replace(abandoned(), after_hours=True), RULES).tags
    assert {"abandoned", "after_hours", "outcome_abandoned"} <= set(tags)
    assert "answered" not in tags
    assert "call them back" in build_ticket(abandoned(), RULES).description


def test_a_draft_survives_the_outbox_and_takes_a_disposition_before_delivery() -> None:
    draft = build_ticket(summary(), RULES)
    assert TicketDraft.from_json(draft.to_json()) == draft
    folded = draft.with_disposition("Refund issued", "card charged twice")
    assert folded.disposition == "Refund issued"
    assert "disposition_refund_issued" in folded.tags
    assert folded.description.endswith("Disposition: Refund issued\nNotes: card charged twice")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (201, Verdict.DELIVERED),
        (400, Verdict.DEAD),
        (422, Verdict.DEAD),
        (401, Verdict.BAD_CREDENTIALS),
        (403, Verdict.BAD_CREDENTIALS),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_status_codes_decide_retry_or_dead_letter(status: int, verdict: Verdict) -> None:
    assert verdict_for_status(status) is verdict


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    backoff = Backoff(first_seconds=2, ceiling_seconds=60)
    low = [retry_delay(n, backoff, lambda: 0.0) for n in range(1, 8)]
    high = [retry_delay(n, backoff, lambda: 1.0) for n in range(1, 8)]
    assert high == [2, 4, 8, 16, 32, 60, 60]
    assert low == [1, 2, 4, 8, 16, 30, 30]


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    backoff = Backoff(first_seconds=2, ceiling_seconds=60, max_retry_after_seconds=120)
    assert retry_delay(1, backoff, lambda: 1.0, retry_after=30) == 30
    assert retry_delay(5, backoff, lambda: 1.0, retry_after=1) == 32
    assert retry_delay(1, backoff, lambda: 1.0, retry_after=86400) == 120


def test_retry_after_header_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("7", T0) == 7
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", T0) == 60
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None
