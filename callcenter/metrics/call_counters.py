"""Per-process call counters: what this process's events say, as Prometheus counters.

``CallCounters`` listens to :class:`~callcenter.store.call_records.EventLog` appends and reads
them with the KPI :class:`~callcenter.domain.kpi.FactReader` (the same reading as the KPIs),
so a counter and a KPI never disagree on what "answered" or "abandoned" means. Counters are per
process (they start at 0 with it); sum them across processes with ``sum by (queue)``.

-*- test-case-name: tests.unit.metrics.test_call_counters -*-
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from callcenter.domain.events import LogEntry
from callcenter.domain.kpi import (
    Abandoned,
    AgentStatus,
    Answered,
    FactReader,
    Handled,
    LeftQueue,
    Queued,
    QueueTargets,
)

WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
HANDLE_BUCKETS = (10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)

OFFERED = Counter("callcenter_queue_calls_offered_total", "Calls that entered the queue", ["queue"])
ANSWERED = Counter(
    "callcenter_queue_calls_answered_total", "Queued calls connected to an agent", ["queue"]
)
ABANDONED = Counter(
    "callcenter_queue_calls_abandoned_total",
    "Queued calls whose caller hung up before an agent answered (short abandons included)",
    ["queue"],
)
SHORT_ABANDONED = Counter(
    "callcenter_queue_calls_short_abandoned_total",
    "Abandons within the queue's short_abandon_seconds",
    ["queue"],
)
LEFT = Counter(
    "callcenter_queue_calls_left_total",
    "Calls that left the queue without an agent and without hanging up (overflow, max wait...)",
    ["queue", "reason"],
)
WAIT = Histogram(
    "callcenter_queue_wait_seconds",
    "Time in queue of answered and abandoned calls",
    ["queue", "outcome"],
    buckets=WAIT_BUCKETS,
)
HANDLE = Histogram(
    "callcenter_queue_handle_seconds",
    "Handle time (talk + wrap-up) of calls whose wrap-up ended",
    ["queue"],
    buckets=HANDLE_BUCKETS,
)
AGENT_STATE_CHANGES = Counter(
    "callcenter_agent_state_changes_total", "Agent state changes, by the new state", ["status"]
)
EVENTS = Counter("callcenter_events_total", "Events appended to the event log", ["type"])

AGENT_STATES = ("offline", "available", "reserved", "on-call", "wrap-up", "paused")


class CallCounters:
    """An ``EventLog`` listener; ``queues`` (name → targets) get their series at 0 at once, so
    a rate or an alert has a series before the first call."""

    def __init__(self, queues: Mapping[str, QueueTargets]) -> None:
        self._targets = dict(queues)
        self._reader = FactReader()
        for queue in self._targets:
            self._zero(queue)
        for status in AGENT_STATES:
            AGENT_STATE_CHANGES.labels(status=status)

    def __call__(
        self, event_id: str, event_type: str, call_id: str, at: float, data: dict[str, Any]
    ) -> None:
        EVENTS.labels(type=event_type).inc()
        self.count(self._reader.read(LogEntry(event_id, event_type, call_id, at, data)))

    def count(self, facts: Iterable[object]) -> None:
        for fact in facts:
            match fact:
                case Queued(queue=queue):
                    OFFERED.labels(queue=queue).inc()
                case Answered(queue=queue, wait=wait):
                    ANSWERED.labels(queue=queue).inc()
                    WAIT.labels(queue=queue, outcome="answered").observe(wait)
                case Abandoned(queue=queue, wait=wait):
                    ABANDONED.labels(queue=queue).inc()
                    if self._targets.get(queue, QueueTargets()).short_abandon(wait):
                        SHORT_ABANDONED.labels(queue=queue).inc()
                    WAIT.labels(queue=queue, outcome="abandoned").observe(wait)
                case LeftQueue(queue=queue, reason=reason):
                    LEFT.labels(queue=queue, reason=reason).inc()
                case Handled(queue=queue, talk=talk, wrap_up=wrap_up):
                    HANDLE.labels(queue=queue).observe(talk + wrap_up)
                case AgentStatus(status=status):
                    AGENT_STATE_CHANGES.labels(status=status).inc()

    @staticmethod
    def _zero(queue: str) -> None:
        for counter in (OFFERED, ANSWERED, ABANDONED, SHORT_ABANDONED):
            counter.labels(queue=queue)
        for outcome in ("answered", "abandoned"):
            WAIT.labels(queue=queue, outcome=outcome)
        HANDLE.labels(queue=queue)
