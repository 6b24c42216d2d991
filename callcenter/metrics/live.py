"""Shared figures for ``/metrics``: live state read from Redis at scrape time, and KPIs.

Read once per scrape (one Lua snapshot of queues and agents, the wallboard's, plus two
counts), so every ``serve`` process on one Redis reports the same values. When Redis does not
answer, :meth:`LiveState.read` returns None and the page carries ``callcenter_live_state_up 0``
and none of these gauges: a gap in the graphs, never the last values repeated. KPI gauges
likewise need a current :class:`~callcenter.kpi.feed.KpiFeed` (``callcenter_kpi_up``).

-*- test-case-name: tests.e2e.test_metrics -*-
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric

from callcenter.domain.kpi import KpiBook, Window
from callcenter.domain.routing import Status
from callcenter.live.snapshot import LiveReader, LiveSnapshot
from callcenter.store import keys
from callcenter.store.link import RedisLink, RedisUnavailableError

log = logging.getLogger(__name__)

#: A scrape waits at most this long for Redis, then reports the gap.
READ_TIMEOUT_SECONDS = 2.0
STATUSES = tuple(s.value for s in Status)


@dataclass(frozen=True)
class LiveFigures:
    snapshot: LiveSnapshot
    calls_in_progress: int
    registrations: int


class LiveState:
    def __init__(self, link: RedisLink, reader: LiveReader) -> None:
        self._link = link
        self._reader = reader

    async def read(self, now: float) -> LiveFigures | None:
        """The figures now, or None when Redis does not answer in time."""
        try:
            return await asyncio.wait_for(self._read(now), READ_TIMEOUT_SECONDS)
        except (RedisUnavailableError, TimeoutError) as exc:
            log.warning("metrics: live state unavailable: %s", exc or "timeout")
            return None

    async def _read(self, now: float) -> LiveFigures:
        snapshot = await self._reader.read(now)
        active = await self._link.read(lambda c: c.scard(keys.CALLS_ACTIVE))
        registered = await self._link.read(lambda c: c.zcount(keys.REGISTERED, f"({now!r}", "+inf"))
        return LiveFigures(snapshot, int(active), int(registered))


def live_families(figures: LiveFigures | None, now: float) -> list[Metric]:
    up = GaugeMetricFamily(
        "callcenter_live_state_up",
        "1 when this scrape read the live state from Redis; 0: live gauges left out",
        value=int(figures is not None),
    )
    if figures is None:
        return [up]
    snapshot = figures.snapshot
    waiting = GaugeMetricFamily(
        "callcenter_queue_calls_waiting", "Calls waiting in the queue now", labels=["queue"]
    )
    longest = GaugeMetricFamily(
        "callcenter_queue_longest_wait_seconds",
        "How long the longest-waiting caller of the queue has waited (0: nobody waits)",
        labels=["queue"],
    )
    agents = GaugeMetricFamily(
        "callcenter_queue_agents",
        "Member agents of the queue, by state",
        labels=["queue", "status"],
    )
    logged_in = GaugeMetricFamily(
        "callcenter_queue_agents_logged_in",
        "Member agents logged in (any state but offline)",
        labels=["queue"],
    )
    available = GaugeMetricFamily(
        "callcenter_queue_agents_available",
        "Member agents available with a live registration (could take a call now)",
        labels=["queue"],
    )
    for name, queue in sorted(snapshot.queues.items()):
        waiting.add_metric([name], queue.waiting)
        longest.add_metric([name], round(queue.longest_wait(now) or 0.0, 3))
        for status in STATUSES:
            agents.add_metric([name, status], queue.by_status.get(status, 0))
        logged_in.add_metric([name], queue.staffed)
        available.add_metric([name], queue.available)
    state = GaugeMetricFamily(
        "callcenter_agent_status",
        "1 for the agent's current state, 0 for the others",
        labels=["agent", "status"],
    )
    in_state = GaugeMetricFamily(
        "callcenter_agent_state_seconds", "Time the agent has been in its state", labels=["agent"]
    )
    registered = GaugeMetricFamily(
        "callcenter_agent_registered", "1 while the agent's phone is registered", labels=["agent"]
    )
    for agent_id, agent in sorted(snapshot.agents.items()):
        for status in STATUSES:
            state.add_metric([agent_id, status], int(agent.status.value == status))
        in_state.add_metric([agent_id], round(max(0.0, now - agent.since), 3))
        registered.add_metric([agent_id], int(agent.registered))
    in_progress = GaugeMetricFamily(
        "callcenter_calls_in_progress",
        "Calls in progress in the whole service (every process)",
        value=figures.calls_in_progress,
    )
    registrations = GaugeMetricFamily(
        "callcenter_sip_registrations",
        "SIP usernames with a live registration",
        value=figures.registrations,
    )
    return [up, waiting, longest, agents, logged_in, available, state, in_state, registered,
            in_progress, registrations]  # fmt: skip


KPI_RATIOS: tuple[tuple[str, str, Callable[..., float | None]], ...] = (
    (
        "callcenter_queue_service_level_ratio",
        "Service level over the window (0-1), by kpi.service_level_formula",
        lambda k: k.service_level,
    ),
    (
        "callcenter_queue_asa_seconds",
        "Average speed of answer over the window",
        lambda k: k.asa_seconds,
    ),
    (
        "callcenter_queue_aht_seconds",
        "Average handle time over the window",
        lambda k: k.aht_seconds,
    ),
    (
        "callcenter_queue_abandon_ratio",
        "Abandon rate over the window (0-1), short abandons left out",
        lambda k: k.abandon_rate,
    ),
    (
        "callcenter_queue_occupancy_ratio",
        "Occupancy of the queue's agents over the window (0-1)",
        lambda k: k.occupancy,
    ),
)
KPI_COUNTS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "short_abandons",
    "left",
    "handled",
)


def kpi_families(book: KpiBook | None, current: bool, now: float) -> list[Metric]:
    up = GaugeMetricFamily(
        "callcenter_kpi_up",
        "1 when the KPI figures are current (event log followed); 0: KPI gauges left out",
        value=int(book is not None and current),
    )
    if book is None or not current:
        return [up]
    ratios = [
        GaugeMetricFamily(name, doc, labels=["queue", "window"]) for name, doc, _ in KPI_RATIOS
    ]
    counts = GaugeMetricFamily(
        "callcenter_queue_window_calls",
        "Calls of the queue in the window, by kind (offered, answered, answered_within, "
        "abandoned, short_abandons, left, handled)",
        labels=["queue", "window", "kind"],
    )
    target = GaugeMetricFamily(
        "callcenter_queue_service_level_target_ratio",
        "The queue's service_level_target (0-1)",
        labels=["queue"],
    )
    threshold = GaugeMetricFamily(
        "callcenter_queue_service_level_threshold_seconds",
        "The queue's service_level_seconds",
        labels=["queue"],
    )
    for queue in book.queues:
        targets = book.targets(queue)
        target.add_metric([queue], targets.service_level_target)
        threshold.add_metric([queue], targets.service_level_seconds)
        for window in Window:
            kpis = book.queue_kpis(queue, window, now)
            for family, (_, _, value_of) in zip(ratios, KPI_RATIOS, strict=True):
                value = value_of(kpis)
                if value is not None:  # no data: no sample (a 0 would look like a failure)
                    family.add_metric([queue, window.value], value)
            for kind in KPI_COUNTS:
                counts.add_metric([queue, window.value, kind], getattr(kpis.tally, kind))
    return [up, *ratios, counts, target, threshold]
