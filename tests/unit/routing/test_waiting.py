"""Queue experience rules: when to announce, what to say, where a leaving caller goes."""

from __future__ import annotations

import pytest

from callcenter.domain.routing.errors import RoutingConfigError
from callcenter.domain.routing.waiting import (
    EMPTY_MESSAGE,
    TIMEOUT_MESSAGE,
    HangUp,
    LeaveReason,
    MoveTo,
    Overflow,
    QueueExperience,
    Stay,
    announcement_text,
    may_join,
    must_leave,
    next_announcement_at,
    overflow_decision,
)

BOTH = QueueExperience(
    announce_position=True, announce_wait=True, announce_first_seconds=10, announce_every_seconds=30
)


class FakeClock:
    """Seconds since the caller joined, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def test_announcements_start_after_first_then_repeat_every() -> None:
    clock = FakeClock()
    joined = clock.now
    first = next_announcement_at(joined, None, BOTH)
    assert first == joined + 10
    said = clock.advance(10)
    assert next_announcement_at(joined, said, BOTH) == said + 30
    late = clock.advance(45)  # the announcement itself was late: the next counts from it
    assert next_announcement_at(joined, late, BOTH) == late + 30


def test_a_queue_without_announcements_never_schedules_one() -> None:
    assert next_announcement_at(0.0, None, QueueExperience()) is None


@pytest.mark.parametrize(
    ("position", "estimate", "text"),
    [
        (3, 95.0, "You are number 3 in the queue. Your estimated wait is about 2 minutes."),
        (1, 10.0, "You are number 1 in the queue. Your estimated wait is about one minute."),
        (2, None, "You are number 2 in the queue."),  # unknown estimate: left out
        (
            40,
            7200.0,
            "You are number 40 in the queue. Your estimated wait is more than 30 minutes.",
        ),
    ],
)
def test_announcement_text(position: int, estimate: float | None, text: str) -> None:
    assert announcement_text(position, estimate, BOTH) == text


def test_no_announcement_while_an_agent_rings_or_with_nothing_to_say() -> None:
    assert announcement_text(None, 60.0, BOTH) is None
    wait_only = QueueExperience(announce_wait=True)
    assert announcement_text(2, None, wait_only) is None
    assert announcement_text(2, 60.0, wait_only) == "Your estimated wait is about one minute."


def test_max_wait_without_overflow_says_goodbye() -> None:
    assert overflow_decision(QueueExperience(), LeaveReason.MAX_WAIT, {"a"}) == HangUp(
        TIMEOUT_MESSAGE
    )
    assert overflow_decision(QueueExperience(), LeaveReason.EMPTY_ON_JOIN, {"a"}) == HangUp(
        EMPTY_MESSAGE
    )


def test_overflow_to_a_queue_with_its_message() -> None:
    experience = QueueExperience(overflow=Overflow(queue="b", message="Trying another team."))
    assert overflow_decision(experience, LeaveReason.MAX_WAIT, {"a"}) == MoveTo(
        "b", "Trying another team."
    )


def test_never_back_into_a_queue_already_visited() -> None:
    experience = QueueExperience(overflow=Overflow(queue="a", message="Bye now."))
    assert overflow_decision(experience, LeaveReason.MAX_WAIT, {"a", "b"}) == HangUp("Bye now.")


def test_message_without_hangup_keeps_waiting_but_not_in_an_empty_queue() -> None:
    experience = QueueExperience(overflow=Overflow(message="Thanks for waiting.", hangup=False))
    assert overflow_decision(experience, LeaveReason.MAX_WAIT, {"a"}) == Stay("Thanks for waiting.")
    assert overflow_decision(experience, LeaveReason.EMPTIED, {"a"}) == HangUp(
        "Thanks for waiting."
    )


def test_join_and_leave_rules() -> None:
    strict = QueueExperience(join_when_empty=False, leave_when_empty=True)
    assert not may_join(strict, 0) and may_join(strict, 1)
    assert must_leave(strict, 0) and not must_leave(strict, 2)
    assert may_join(QueueExperience(), 0) and not must_leave(QueueExperience(), 0)


def test_invalid_timings_are_refused() -> None:
    with pytest.raises(RoutingConfigError):
        QueueExperience(announce_every_seconds=0)
    with pytest.raises(RoutingConfigError):
        QueueExperience(announce_first_seconds=-1)


def test_overflow_to_a_flow_goes_there_whatever_the_reason() -> None:
    from callcenter.domain.routing.waiting import ToFlow

    experience = QueueExperience(overflow=Overflow(flow="after.yaml", node="offer"))
    for reason in LeaveReason:
        assert overflow_decision(experience, reason, {"billing"}) == ToFlow("after.yaml", "offer")
