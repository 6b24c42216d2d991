"""The wallboard as JSON rows: one per queue tile, one per agent on the grid.

Rows hold only what changes when something happens (counts, levels, entry and state times),
never a figure that moves by itself: the page advances "longest wait" and "time in state"
from ``oldest_entered_at`` / ``since`` and the server time sent with every message. So an
unchanged queue or agent gives an identical row, and a push carries only the rows that
changed (``callcenter.domain.wallboard.changes``).

-*- test-case-name: tests.integration.live.test_feed -*-
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callcenter.domain.wallboard import (
    UNKNOWN_KPI,
    AgentLive,
    QueueKpi,
    QueueLive,
    Thresholds,
    next_level_change,
    tile,
)
from callcenter.live.snapshot import LiveSnapshot

Row = dict[str, object]

DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Board:
    """Rows keyed by queue name and agent id, and when a tile will next change colour."""

    taken_at: float
    queues: Mapping[str, Row]
    agents: Mapping[str, Row]
    next_change_at: float | None

    def full(self) -> Row:
        return {"now": self.taken_at, "queues": dict(self.queues), "agents": dict(self.agents)}


def board(
    snapshot: LiveSnapshot,
    thresholds: Mapping[str, Thresholds],
    kpis: Mapping[str, QueueKpi],
) -> Board:
    now = snapshot.taken_at
    queues: dict[str, Row] = {}
    upcoming: list[float] = []
    for name, queue in snapshot.queues.items():
        limits = thresholds.get(name, DEFAULT_THRESHOLDS)
        queues[name] = queue_row(queue, kpis.get(name, UNKNOWN_KPI), limits, now)
        at = next_level_change(queue, limits, now)
        if at is not None:
            upcoming.append(at)
    agents = {agent_id: agent_row(agent) for agent_id, agent in snapshot.agents.items()}
    return Board(now, queues, agents, min(upcoming, default=None))


def queue_row(queue: QueueLive, kpi: QueueKpi, limits: Thresholds, now: float) -> Row:
    shown = tile(queue, kpi, limits, now)
    return {
        "name": queue.name,
        "waiting": queue.waiting,
        "oldest_entered_at": queue.oldest_entered_at,
        "available": queue.available,
        "busy": queue.busy,
        "staffed": queue.staffed,
        "paused": queue.paused,
        "members": queue.members,
        "service_level": kpi.service_level,
        "answered": kpi.answered,
        "abandoned": kpi.abandoned,
        "level": str(shown.level),
        "reasons": list(shown.reasons),
        "thresholds": {
            "waiting": [limits.waiting_amber, limits.waiting_red],
            "longest_wait_seconds": [
                limits.longest_wait_amber_seconds,
                limits.longest_wait_red_seconds,
            ],
            "service_level": [limits.service_level_amber, limits.service_level_red],
        },
    }


def agent_row(agent: AgentLive) -> Row:
    return {
        "id": agent.id,
        "name": agent.name,
        "status": str(agent.status),
        "reason": agent.reason,
        "since": agent.since,
        "registered": agent.registered,
        "call_id": agent.call_id,
        "queue": agent.queue,
    }
