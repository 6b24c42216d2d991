"""KPI maths (pure): definitions, facts read from the event log, and the book that adds them up.

-*- test-case-name: tests.unit.kpi -*-
"""

from callcenter.domain.kpi.book import KpiBook, Kpis
from callcenter.domain.kpi.definitions import (
    QueueTargets,
    ServiceLevelFormula,
    Tally,
    abandon_rate,
    average_handle_time,
    average_speed_of_answer,
    occupancy,
    service_level,
)
from callcenter.domain.kpi.facts import (
    Abandoned,
    AgentStatus,
    Answered,
    Fact,
    FactReader,
    Handled,
    LeftQueue,
    Queued,
)
from callcenter.domain.kpi.windows import Window, day_start, window_start

__all__ = [
    "Abandoned",
    "AgentStatus",
    "Answered",
    "Fact",
    "FactReader",
    "Handled",
    "KpiBook",
    "Kpis",
    "LeftQueue",
    "QueueTargets",
    "Queued",
    "ServiceLevelFormula",
    "Tally",
    "Window",
    "abandon_rate",
    "average_handle_time",
    "average_speed_of_answer",
    "day_start",
    "occupancy",
    "service_level",
    "window_start",
]
