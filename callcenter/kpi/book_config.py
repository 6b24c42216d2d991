"""A KpiBook set up from the configuration: queue targets, time zone, formula, members.

-*- test-case-name: tests.unit.config.test_kpi_config -*-
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from callcenter.config import Config
from callcenter.domain.kpi import KpiBook, QueueTargets, ServiceLevelFormula


def queue_targets(config: Config) -> dict[str, QueueTargets]:
    return {
        name: QueueTargets(
            service_level_seconds=q.service_level_seconds,
            service_level_target=q.service_level_target,
            short_abandon_seconds=q.short_abandon_seconds,
        )
        for name, q in config.queues.items()
    }


def book_for(config: Config) -> KpiBook:
    members: dict[str, set[str]] = {name: set() for name in config.queues}
    for agent in config.agents:
        for queue in agent.queues:
            members.setdefault(queue, set()).add(agent.id)
    return KpiBook(
        queue_targets(config),
        ZoneInfo(config.timezone),
        ServiceLevelFormula(config.kpi.service_level_formula),
        members,
    )
