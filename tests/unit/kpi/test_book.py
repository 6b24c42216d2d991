"""KpiBook: figures per queue and overall, for today and the rolling windows, by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.domain.kpi import (
    Abandoned,
    AgentStatus,
    Answered,
    Handled,
    KpiBook,
    Queued,
    QueueTargets,
    ServiceLevelFormula,
    Window,
)

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
MIN = 60.0
TARGETS = {
    "support": QueueTargets(service_level_seconds=20, short_abandon_seconds=5),
    "sales": QueueTargets(service_level_seconds=30, service_level_target=0.9),
}
MEMBERS = {"support": ["ann"], "sales": ["bob"]}


def answered(call: str, queue: str, queued_at: float, wait: float) -> list[Queued | Answered]:
    return [Queued(call, queue, queued_at), Answered(call, queue, queued_at + wait, wait)]


def abandoned(call: str, queue: str, queued_at: float, wait: float) -> list[Queued | Abandoned]:
    return [Queued(call, queue, queued_at), Abandoned(call, queue, queued_at + wait, wait)]


def day_book(formula: ServiceLevelFormula = ServiceLevelFormula.SHORT_ABANDONS_EXCLUDED) -> KpiBook:
    book = KpiBook(TARGETS, UTC, formula, MEMBERS)
    book.add_all(answered("y1", "support", NOON - 12 * 60 * MIN - MIN, 5))  # yesterday 23:59
    book.add_all(answered("c0", "support", NOON - 180 * MIN, 15))  # 09:00, met
    book.add_all(answered("c1", "support", NOON - 50 * MIN, 10))  # 11:10, met
    book.add(AgentStatus("bob", "available", NOON - 30 * MIN))
    book.add(AgentStatus("ann", "available", NOON - 20 * MIN))
    book.add_all(answered("c2", "support", NOON - 10 * MIN - 25, 25))  # missed (25 > 20)
    book.add(AgentStatus("ann", "on-call", NOON - 10 * MIN))
    book.add_all(abandoned("c3", "support", NOON - 8 * MIN, 3))  # short abandon (3 < 5)
    book.add(AgentStatus("ann", "wrap-up", NOON - 6 * MIN))
    book.add_all(abandoned("c4", "support", NOON - 5 * MIN - 30, 30))
    book.add(AgentStatus("ann", "available", NOON - 5 * MIN))
    book.add(Handled("c2", "support", NOON - 5 * MIN, 4 * MIN, 1 * MIN))
    book.add_all(answered("c5", "sales", NOON - 5 * MIN - 25, 25))  # met (25 ≤ 30)
    book.add(AgentStatus("bob", "on-call", NOON - 3 * MIN))
    return book


def test_support_over_the_last_15_minutes() -> None:
    k = day_book().queue_kpis("support", Window.FIFTEEN_MINUTES, NOON)
    t = k.tally
    # c2 (answered after 25 s), c3 (abandoned after 3 s, short), c4 (abandoned after 30 s)
    assert (t.offered, t.answered, t.answered_within) == (3, 1, 0)
    assert (t.abandoned, t.short_abandons) == (2, 1)
    assert k.service_level == pytest.approx(0 / (1 + 2 - 1))  # 0.0
    assert k.asa_seconds == pytest.approx(25.0)
    assert k.abandon_rate == pytest.approx((2 - 1) / (1 + 2 - 1))  # 0.5
    assert k.aht_seconds == pytest.approx((240 + 60) / 1)  # c2: 4 min talk + 1 min wrap-up
    # ann 11:45-12:00: available 5 min, on-call 4, wrap-up 1, available 5 → 5 of 15 min busy
    assert k.occupancy == pytest.approx(5 / 15)
    assert (k.service_level_seconds, k.service_level_target) == (20, 0.8)


def test_support_over_the_last_hour_and_today() -> None:
    book = day_book()
    hour = book.queue_kpis("support", Window.HOUR, NOON)
    # + c1 (answered after 10 s, met)
    assert (hour.tally.offered, hour.tally.answered, hour.tally.answered_within) == (4, 2, 1)
    assert hour.service_level == pytest.approx(1 / (2 + 2 - 1))  # 0.333
    assert hour.asa_seconds == pytest.approx((10 + 25) / 2)  # 17.5
    # ann known from 11:40: available 10 + 5 min, busy 5 min
    assert hour.occupancy == pytest.approx(5 / 20)
    today = book.queue_kpis("support", Window.TODAY, NOON)
    # + c0 at 09:00 (answered after 15 s, met); y1 was yesterday
    assert (today.tally.offered, today.tally.answered, today.tally.answered_within) == (5, 3, 2)
    assert today.service_level == pytest.approx(2 / (3 + 2 - 1))  # 0.5
    assert today.asa_seconds == pytest.approx((15 + 10 + 25) / 3)  # 16.667


def test_all_queues_and_overall() -> None:
    book = day_book()
    each = book.all_queues(Window.FIFTEEN_MINUTES, NOON)
    assert sorted(each) == ["sales", "support"]
    sales = each["sales"]
    assert (sales.tally.answered, sales.tally.answered_within) == (1, 1)
    assert sales.service_level == pytest.approx(1.0)
    assert sales.service_level_target == 0.9
    # bob 11:45-12:00: available 12 min, on-call 3 min
    assert sales.occupancy == pytest.approx(3 / 15)
    overall = book.overall(Window.FIFTEEN_MINUTES, NOON)
    # support: 1 answered (0 met), 2 abandoned (1 short); sales: 1 answered (met)
    assert overall.service_level == pytest.approx((0 + 1) / (2 + 2 - 1))  # 0.333
    assert overall.asa_seconds == pytest.approx((25 + 25) / 2)
    assert overall.occupancy == pytest.approx((5 + 3) / (15 + 15))  # ann and bob
    assert overall.queue is None and overall.service_level_seconds is None


def test_the_formula_is_the_books_choice() -> None:
    book = day_book(ServiceLevelFormula.ABANDONS_IGNORED)
    assert book.queue_kpis("support", Window.HOUR, NOON).service_level == pytest.approx(1 / 2)


def test_a_quiet_window_is_no_data() -> None:
    k = day_book().queue_kpis("support", Window.FIFTEEN_MINUTES, NOON + 2 * 60 * MIN)
    assert k.tally.offered == 0
    assert k.service_level is None and k.asa_seconds is None and k.aht_seconds is None
    assert k.occupancy == pytest.approx(0.0)  # ann has been available all along: idle


def test_today_starts_at_midnight_in_the_configured_time_zone() -> None:
    new_york = ZoneInfo("America/New_York")  # 12:00 UTC is 07:00 there (EST, UTC-5)
    book = KpiBook(TARGETS, new_york)
    book.add_all(answered("late", "support", NOON - 7 * 60 * MIN - 30 * MIN, 5))  # 23:30 NY
    book.add_all(answered("early", "support", NOON - 60 * MIN, 5))  # 06:00 NY
    assert book.queue_kpis("support", Window.TODAY, NOON).tally.answered == 1
    utc = KpiBook(TARGETS, UTC)
    utc.add_all(answered("late", "support", NOON - 7 * 60 * MIN - 30 * MIN, 5))  # 04:30 UTC
    assert utc.queue_kpis("support", Window.TODAY, NOON).tally.answered == 1


def test_after_midnight_today_starts_empty_and_agents_count_from_midnight() -> None:
    book = day_book()
    after_midnight = NOON + 13 * 60 * MIN  # 01:00 next day
    k = book.queue_kpis("support", Window.TODAY, after_midnight)
    assert k.tally.offered == 0
    assert book.agent_seconds("ann", Window.TODAY, after_midnight) == {"available": 3600.0}
    # a change after midnight closes the interval: only its part since midnight counts today
    book.add(AgentStatus("ann", "paused", after_midnight))
    assert book.agent_seconds("ann", Window.TODAY, after_midnight + 60) == {
        "available": 3600.0,
        "paused": 60.0,
    }


def test_a_queue_not_configured_gets_default_targets() -> None:
    book = KpiBook({}, UTC)
    book.add_all(answered("c1", "old", NOON - MIN, 20))
    k = book.queue_kpis("old", Window.FIFTEEN_MINUTES, NOON)
    assert k.service_level == 1.0 and k.service_level_seconds == 20.0
    assert book.queues == ["old"]
