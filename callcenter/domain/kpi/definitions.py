"""The KPI definitions: what each figure means, as small functions over a :class:`Tally`.

The industry's usual definitions (README "Metrics and KPIs" states them for users):

- **service level**: calls answered within the queue's threshold ÷ the calls that count. Which
  calls count is the long-argued part, so the formula is selectable
  (:class:`ServiceLevelFormula`); the default leaves out *short abandons* (callers who hung up
  within ``short_abandon_seconds``: mostly wrong numbers, not service failures);
- **ASA** (average speed of answer): total wait of the answered calls ÷ answered calls;
- **AHT** (average handle time): (talk + wrap-up) ÷ calls handled (their wrap-up over);
- **abandon rate**: abandoned after the short-abandon threshold ÷ (answered + those abandons);
- **occupancy**: time handling calls (talk + wrap-up) ÷ that time plus time available
  (ringing counts as available: the agent was ready and not yet working).

A figure with nothing to divide by is ``None`` (shown as "no data"), never 0 or 100 %.

-*- test-case-name: tests.unit.kpi.test_definitions -*-
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum


class ServiceLevelFormula(StrEnum):
    """Which calls the service level divides by (config ``kpi.service_level_formula``)."""

    #: answered within T ÷ (answered + abandoned - short abandons). The default (DESIGN.md).
    SHORT_ABANDONS_EXCLUDED = "short-abandons-excluded"
    #: answered within T ÷ (answered + abandoned): every abandon is a failure.
    ABANDONS_INCLUDED = "abandons-included"
    #: answered within T ÷ answered: abandons are not counted at all.
    ABANDONS_IGNORED = "abandons-ignored"
    #: answered within T ÷ (answered + abandoned after T): abandons within T do not count.
    ABANDONS_WITHIN_THRESHOLD_EXCLUDED = "abandons-within-threshold-excluded"
    #: (answered within T + abandoned within T) ÷ (answered + abandoned): those count as met.
    ABANDONS_WITHIN_THRESHOLD_POSITIVE = "abandons-within-threshold-positive"


@dataclass(frozen=True)
class QueueTargets:
    """A queue's thresholds: service level ``T`` and its target, the short-abandon limit."""

    service_level_seconds: float = 20.0
    service_level_target: float = 0.8
    short_abandon_seconds: float = 5.0

    def answered_within(self, wait: float) -> bool:
        """Answered within the threshold: a wait of exactly ``T`` still meets it."""
        return wait <= self.service_level_seconds

    def short_abandon(self, wait: float) -> bool:
        """Hung up in less than ``short_abandon_seconds``."""
        return wait < self.short_abandon_seconds


@dataclass
class Tally:
    """Counts and sums of one queue (or all) over one window; added up field by field.

    ``answered_within``/``abandoned_within`` are against the queue's own threshold, decided
    when the call is counted, so tallies of queues with different thresholds add up.
    ``left`` are callers who left the queue without an agent and without hanging up
    (overflow, max wait, no agents): not answered, not abandoned, in no formula.
    """

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    abandoned_within: int = 0
    left: int = 0
    answered_wait_seconds: float = 0.0
    handled: int = 0
    talk_seconds: float = 0.0
    wrap_up_seconds: float = 0.0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def counted_abandons(self) -> int:
        """Abandons after the short-abandon threshold."""
        return self.abandoned - self.short_abandons


def _ratio(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def service_level(t: Tally, formula: ServiceLevelFormula) -> float | None:
    """The share of calls that met the threshold, by ``formula`` (0..1)."""
    match formula:
        case ServiceLevelFormula.SHORT_ABANDONS_EXCLUDED:
            return _ratio(t.answered_within, t.answered + t.counted_abandons)
        case ServiceLevelFormula.ABANDONS_INCLUDED:
            return _ratio(t.answered_within, t.answered + t.abandoned)
        case ServiceLevelFormula.ABANDONS_IGNORED:
            return _ratio(t.answered_within, t.answered)
        case ServiceLevelFormula.ABANDONS_WITHIN_THRESHOLD_EXCLUDED:
            return _ratio(t.answered_within, t.answered + t.abandoned - t.abandoned_within)
        case ServiceLevelFormula.ABANDONS_WITHIN_THRESHOLD_POSITIVE:
            return _ratio(t.answered_within + t.abandoned_within, t.answered + t.abandoned)


def average_speed_of_answer(t: Tally) -> float | None:
    """ASA in seconds."""
    return _ratio(t.answered_wait_seconds, t.answered)


def average_handle_time(t: Tally) -> float | None:
    """AHT in seconds: talk plus wrap-up per handled call."""
    return _ratio(t.talk_seconds + t.wrap_up_seconds, t.handled)


def abandon_rate(t: Tally) -> float | None:
    """Abandons after the short-abandon threshold ÷ (answered + those abandons), 0..1."""
    return _ratio(t.counted_abandons, t.answered + t.counted_abandons)


def occupancy(busy_seconds: float, available_seconds: float) -> float | None:
    """Handling time ÷ (handling time + available time), 0..1."""
    return _ratio(busy_seconds, busy_seconds + available_seconds)
