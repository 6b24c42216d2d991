"""Today's service level, answered and abandoned per queue, from the KPI book.

The wallboard does no KPI maths of its own: it reads the figures the metrics part keeps
(:class:`~callcenter.kpi.feed.KpiFeed`, the whole of today's event log in a
:class:`~callcenter.domain.kpi.KpiBook`), so a tile and ``GET /api/kpis?window=today`` always
show the same numbers. While that feed is not current (Redis lost, or today's log still
being read) the figures are unknown and the page shows a dash, not numbers that stopped.

-*- test-case-name: tests.integration.live.test_kpis -*-
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from callcenter.domain.kpi import Window
from callcenter.domain.wallboard import QueueKpi
from callcenter.kpi.feed import KpiFeed
from callcenter.live.feed import KpiSource


def today_from(feed: KpiFeed, clock: Callable[[], float]) -> KpiSource:
    """A :data:`KpiSource` reading ``feed``'s book for today (service level in percent)."""

    async def read() -> Mapping[str, QueueKpi]:
        if not feed.current:
            return {}
        figures = feed.book.all_queues(Window.TODAY, clock())
        return {
            name: QueueKpi(
                service_level=None if k.service_level is None else 100 * k.service_level,
                answered=k.tally.answered,
                abandoned=k.tally.abandoned,
            )
            for name, k in figures.items()
        }

    return read
