"""A freed agent takes the most urgent call across its queues: priority, then weighted wait."""

from __future__ import annotations

from callcenter.domain.routing import (
    CallKey,
    Queue,
    Status,
    WaitingCall,
    call_sort_key,
    choose_call,
    queue_score,
)
from tests.unit.routing.kit import T0, call, make_agent, snap

QUEUES = {
    "support": Queue("support"),
    "sales": Queue("sales"),
    "vip": Queue("vip", weight=3.0),
    "billing": Queue("billing", skills={"billing": 4}),
}
BOTH = make_agent("a1", {"billing": 2}, ["support", "sales", "vip", "billing"])
NOW = T0 + 1_000


def taken(*calls: WaitingCall) -> str | None:
    return choose_call(snap(BOTH), calls, QUEUES, NOW).call_id


def test_higher_priority_wins_over_a_much_longer_wait() -> None:
    old = call("old", "support", priority=0, entered_at=NOW - 900)
    urgent = call("urgent", "sales", priority=5, entered_at=NOW - 1)
    assert taken(old, urgent) == "urgent"


def test_same_priority_the_longer_wait_wins_across_queues() -> None:
    first = call("first", "sales", entered_at=NOW - 120)
    second = call("second", "support", entered_at=NOW - 60)
    assert taken(second, first) == "first"


def test_queue_weight_multiplies_the_wait() -> None:
    vip = call("vip", "vip", entered_at=NOW - 20)  # weighted wait 60 s
    plain = call("plain", "support", entered_at=NOW - 50)  # weighted wait 50 s
    assert taken(plain, vip) == "vip"
    older = call("older", "support", entered_at=NOW - 61)
    assert taken(older, vip) == "older"


def test_weight_never_beats_priority() -> None:
    vip = call("vip", "vip", entered_at=NOW - 900)
    urgent = call("urgent", "support", priority=1, entered_at=NOW)
    assert taken(vip, urgent) == "urgent"


def test_a_more_urgent_call_the_agent_cannot_serve_is_skipped() -> None:
    needs_skill = call("skill", "billing", priority=9, entered_at=NOW - 500)
    other_queue = call("other", "elsewhere", priority=9, entered_at=NOW - 500)
    fine = call("fine", "support", entered_at=NOW - 5)
    queues = {**QUEUES, "elsewhere": Queue("elsewhere")}
    decision = choose_call(snap(BOTH), [needs_skill, other_queue, fine], queues, NOW)
    assert decision.call_id == "fine"


def test_equal_urgency_falls_to_the_call_id() -> None:
    assert taken(call("b", entered_at=NOW - 10), call("a", entered_at=NOW - 10)) == "a"


def test_an_agent_that_declined_is_skipped_for_that_call_until_the_retry_time() -> None:
    declined = call("declined", entered_at=NOW - 300).with_decline("a1", NOW - 10)
    fresh = call("fresh", entered_at=NOW - 5)
    assert taken(declined, fresh) == "fresh"
    retry = QUEUES["support"].decline_retry_seconds
    later = choose_call(snap(BOTH), [declined, fresh], QUEUES, NOW - 10 + retry)
    assert later.call_id == "declined"


def test_an_agent_that_is_not_available_takes_nothing() -> None:
    decision = choose_call(snap(BOTH, Status.PAUSED), [call("c1")], QUEUES, NOW)
    assert decision.call_id is None
    assert [reason.code for reason in decision.agent_reasons] == ["not-available"]


def test_queue_score_and_call_sort_key_are_the_documented_numbers() -> None:
    waiting = call("c1", "vip", priority=2, entered_at=1_700_000_000.0)
    assert queue_score(waiting) == 1_700_000_000.0 - 2e10
    key = call_sort_key(waiting, QUEUES["vip"], 1_700_000_030.0)
    assert key == CallKey(-(2e10 + 90.0), "c1")


def test_in_one_queue_both_keys_give_the_same_order() -> None:
    base = 1_700_000_000.0
    calls = [
        call(f"c{i}", "vip", priority=priority, entered_at=base + offset)
        for i, (priority, offset) in enumerate(
            [(0, 5.0), (3, 40.0), (0, 1.5), (999, 80.0), (3, 2.0), (0, 1.5), (1, 0.001)]
        )
    ]
    by_score = sorted(calls, key=lambda c: (queue_score(c), c.call_id))
    by_key = sorted(calls, key=lambda c: call_sort_key(c, QUEUES["vip"], base + 100))
    assert [c.call_id for c in by_score] == [c.call_id for c in by_key]
    assert [c.call_id for c in by_score] == ["c3", "c4", "c1", "c6", "c2", "c5", "c0"]
