"""Outcomes of the call record: what a supervisor reads in GET /api/calls."""

from __future__ import annotations

from callcenter.domain.calls import CallRecord, Outcome


def _call() -> CallRecord:
    record = CallRecord("c1", "+441234", "Ann", "100", arrived_at=100.0)
    record.answer(100.5, "support.yaml")
    record.enter_node("welcome", "say", 100.6)
    return record


def test_caller_hanging_up_mid_menu_is_abandoned_where_it_happened() -> None:
    record = _call()
    record.enter_node("main_menu", "menu", 103.0)
    record.press("7", "rfc4733", 104.0)
    record.hang_up("caller", "BYE", 105.0, ivr_finished=False)
    assert record.outcome is Outcome.ABANDONED
    assert record.end_node == "main_menu"
    assert record.digits[0].node == "main_menu"
    assert record.to_json()["duration"] == 5.0


def test_caller_leaving_the_queue_is_abandoned_with_its_wait() -> None:
    record = _call()
    record.enqueue("billing", 5, 110.0)
    record.hang_up("caller", "BYE", 140.0, ivr_finished=True)
    assert record.outcome is Outcome.ABANDONED
    assert record.to_json()["wait"] == 30.0
    assert record.queue == "billing"


def test_ivr_ending_the_call_completes_it() -> None:
    record = _call()
    record.enter_node("closed", "hangup", 101.0)
    record.hang_up("system", "after hours", 101.5, ivr_finished=True)
    assert record.outcome is Outcome.COMPLETED
    assert record.ended_by == "system"


def test_a_failure_is_not_overwritten_by_the_late_hangup() -> None:
    record = _call()
    record.fail("media worker crashed", 102.0)
    record.hang_up("caller", "BYE", 103.0, ivr_finished=False)
    assert record.outcome is Outcome.FAILED
    assert record.end_reason == "media worker crashed"


def test_json_round_trip_keeps_everything() -> None:
    record = _call()
    record.press("1", "info", 101.0)
    record.enqueue("sales", 1, 102.0)
    again = CallRecord.from_json(record.to_json())
    assert again == record
