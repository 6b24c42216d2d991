"""Estimated wait and announcements, against numbers worked out by hand."""

from __future__ import annotations

import pytest

from callcenter.domain.routing import (
    HandleTimes,
    Status,
    WaitAnnouncement,
    announcement_due,
    available_count,
    estimated_wait,
    queue_position,
    staffed_count,
    wait_announcement,
)
from tests.unit.routing.kit import T0, call, make_agent, snap


def test_handle_times_keep_a_moving_window_of_the_last_k() -> None:
    window = HandleTimes(size=3)
    assert window.average() is None
    for seconds in (100.0, 200.0, 300.0, 400.0):
        window = window.record(seconds)
    assert window.samples == (200.0, 300.0, 400.0)
    assert window.average() == 300.0
    with pytest.raises(ValueError):
        window.record(-1)


@pytest.mark.parametrize(
    ("position", "aht", "staffed", "available", "expected"),
    [
        (5, 300.0, 3, 1, 400.0),  # (5 - 1) * 300 / 3
        (1, 240.0, 4, 0, 60.0),  # 1 * 240 / 4
        (3, 180.0, 2, 0, 270.0),  # 3 * 180 / 2
        (2, 300.0, 3, 2, 0.0),  # an agent is free for it right away
        (2, 300.0, 0, 0, None),  # nobody logged in: unknown
        (2, None, 3, 0, None),  # no handled call yet: unknown
    ],
)
def test_estimated_wait_formula(
    position: int, aht: float | None, staffed: int, available: int, expected: float | None
) -> None:
    assert estimated_wait(position, aht, staffed, available) == expected


def test_positions_start_at_one() -> None:
    with pytest.raises(ValueError):
        estimated_wait(0, 100.0, 1)


def test_staffed_counts_logged_in_members_and_available_counts_who_can_ring_now() -> None:
    agents = [
        snap(make_agent("a1")),
        snap(make_agent("a2"), Status.PAUSED),
        snap(make_agent("a3"), Status.ON_CALL),
        snap(make_agent("a4"), Status.OFFLINE),
        snap(make_agent("a5"), registered=False),
        snap(make_agent("a6", queues=["sales"])),
    ]
    assert staffed_count(agents, "support") == 4
    assert available_count(agents, "support") == 1


def test_queue_position_follows_priority_then_arrival() -> None:
    early = call("early", entered_at=T0)
    late = call("late", entered_at=T0 + 10)
    urgent = call("urgent", priority=2, entered_at=T0 + 20)
    elsewhere = call("elsewhere", "sales", priority=9, entered_at=T0 - 100)
    waiting = [early, late, urgent, elsewhere]
    assert [queue_position(c, waiting) for c in (urgent, early, late)] == [1, 2, 3]
    assert queue_position(elsewhere, waiting) == 1


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [
        (400.0, WaitAnnouncement(4, 7)),  # 6.67 min rounds up
        (60.0, WaitAnnouncement(4, 1)),
        (0.0, WaitAnnouncement(4, 1)),  # never "zero minutes"
        (1800.0, WaitAnnouncement(4, 30)),
        (1801.0, WaitAnnouncement(4, 30, more_than=True)),
        (None, WaitAnnouncement(4, None)),
    ],
)
def test_wait_announcement_rounds_up_and_caps(
    estimate: float | None, expected: WaitAnnouncement
) -> None:
    assert wait_announcement(4, estimate, cap_minutes=30) == expected


def test_announcement_due_every_interval() -> None:
    assert announcement_due(None, T0, 60)
    assert not announcement_due(T0, T0 + 59.9, 60)
    assert announcement_due(T0, T0 + 60, 60)
