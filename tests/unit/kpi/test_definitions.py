"""KPI definitions against hand-computed figures (the arithmetic is written out)."""

from __future__ import annotations

import pytest

from callcenter.domain.kpi import (
    QueueTargets,
    ServiceLevelFormula,
    Tally,
    abandon_rate,
    average_handle_time,
    average_speed_of_answer,
    occupancy,
    service_level,
)

F = ServiceLevelFormula
TARGETS = QueueTargets(service_level_seconds=20, short_abandon_seconds=5)


def _tally(answered_waits: list[float], abandoned_waits: list[float]) -> Tally:
    return Tally(
        offered=len(answered_waits) + len(abandoned_waits),
        answered=len(answered_waits),
        answered_within=sum(TARGETS.answered_within(w) for w in answered_waits),
        answered_wait_seconds=sum(answered_waits),
        abandoned=len(abandoned_waits),
        short_abandons=sum(TARGETS.short_abandon(w) for w in abandoned_waits),
        abandoned_within=sum(TARGETS.answered_within(w) for w in abandoned_waits),
    )


# Answered after 5, 20 (exactly T: met) and 30 s; abandoned after 3 (short), 12 and 40 s.
DAY = _tally([5, 20, 30], [3, 12, 40])


def test_the_day_is_counted_as_by_hand() -> None:
    assert (DAY.answered, DAY.answered_within) == (3, 2)  # 5 ≤ 20, 20 ≤ 20; 30 > 20
    assert (DAY.abandoned, DAY.short_abandons, DAY.abandoned_within) == (3, 1, 2)  # 3 < 5


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (F.SHORT_ABANDONS_EXCLUDED, 2 / (3 + 3 - 1)),  # 0.4
        (F.ABANDONS_INCLUDED, 2 / (3 + 3)),  # 0.333
        (F.ABANDONS_IGNORED, 2 / 3),  # 0.667
        (F.ABANDONS_WITHIN_THRESHOLD_EXCLUDED, 2 / (3 + 3 - 2)),  # 0.5
        (F.ABANDONS_WITHIN_THRESHOLD_POSITIVE, (2 + 2) / (3 + 3)),  # 0.667
    ],
)
def test_service_level_by_each_formula(formula: ServiceLevelFormula, expected: float) -> None:
    assert service_level(DAY, formula) == pytest.approx(expected)


def test_asa_and_abandon_rate() -> None:
    assert average_speed_of_answer(DAY) == pytest.approx((5 + 20 + 30) / 3)  # 18.333 s
    assert abandon_rate(DAY) == pytest.approx((3 - 1) / (3 + 3 - 1))  # 2 of 5: 0.4


def test_aht_is_talk_plus_wrap_up_per_handled_call() -> None:
    handled = Tally(handled=2, talk_seconds=60 + 120, wrap_up_seconds=10 + 10)
    assert average_handle_time(handled) == pytest.approx(200 / 2)  # 100 s


def test_occupancy_is_handling_over_handling_and_available() -> None:
    assert occupancy(busy_seconds=300, available_seconds=100) == pytest.approx(0.75)


def test_nothing_to_divide_by_is_no_data_not_zero() -> None:
    empty = Tally()
    assert service_level(empty, F.SHORT_ABANDONS_EXCLUDED) is None
    assert average_speed_of_answer(empty) is None
    assert average_handle_time(empty) is None
    assert abandon_rate(empty) is None
    assert occupancy(0, 0) is None
    # Only short abandons: no call counts, so no service level and no abandon rate.
    only_short = _tally([], [1, 2])
    assert service_level(only_short, F.SHORT_ABANDONS_EXCLUDED) is None
    assert abandon_rate(only_short) is None
    assert service_level(only_short, F.ABANDONS_INCLUDED) == 0.0


def test_tallies_add_up_field_by_field() -> None:
    total = Tally()
    total.add(_tally([5], [40]))
    total.add(_tally([30], []))
    assert total == _tally([5, 30], [40])
