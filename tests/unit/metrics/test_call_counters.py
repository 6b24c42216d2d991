"""Per-process counters from this process's events (the global registry; queue names unique
to this test so other tests' counts cannot mix in)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from callcenter.domain.kpi import QueueTargets
from callcenter.metrics.call_counters import CallCounters

T0 = 1_700_000_000.0
Q = "unit-counters-q"


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_events_count_as_by_hand() -> None:
    counters = CallCounters({Q: QueueTargets(service_level_seconds=20, short_abandon_seconds=5)})
    assert value("callcenter_queue_calls_offered_total", queue=Q) == 0  # a series at once
    assert value("callcenter_queue_wait_seconds_count", queue=Q, outcome="answered") == 0
    n = iter(range(100))

    def event(kind: str, call_id: str, at: float, **data: Any) -> None:
        counters(f"u{next(n)}", kind, call_id, T0 + at, data)

    def agent(at: float, status: str, previous: str, call: str | None) -> None:
        data = {"agent": "ann", "status": status, "previous": previous, "call": call}
        event("agent.state", call or "", at, queue=Q, since=T0 + at, **data)

    event("call.queued", "c1", 0, queue=Q)
    agent(5, "on-call", "reserved", "c1")
    event("call.connected", "c1", 5, agent="ann", wait=5.0)
    agent(65, "wrap-up", "on-call", "c1")
    agent(75, "available", "wrap-up", "c1")  # handled: talk 60 + wrap-up 10 = 70 s
    event("call.queued", "c2", 0, queue=Q)
    event("call.ended", "c2", 2, outcome="abandoned", by="caller")  # short (2 < 5)
    event("call.queued", "c3", 0, queue=Q)
    event("call.ended", "c3", 30, outcome="abandoned", by="caller")
    event("call.queued", "c4", 0, queue=Q)
    event("call.left_queue", "c4", 60, queue=Q, reason="max-wait", wait=60.0)

    assert value("callcenter_queue_calls_offered_total", queue=Q) == 4
    assert value("callcenter_queue_calls_answered_total", queue=Q) == 1
    assert value("callcenter_queue_calls_abandoned_total", queue=Q) == 2
    assert value("callcenter_queue_calls_short_abandoned_total", queue=Q) == 1
    assert value("callcenter_queue_calls_left_total", queue=Q, reason="max-wait") == 1
    assert value("callcenter_queue_wait_seconds_sum", queue=Q, outcome="answered") == 5.0
    assert value("callcenter_queue_wait_seconds_sum", queue=Q, outcome="abandoned") == (
        pytest.approx(2.0 + 30.0)
    )
    assert (
        value("callcenter_queue_wait_seconds_bucket", queue=Q, outcome="abandoned", le="5.0") == 1
    )
    assert value("callcenter_queue_handle_seconds_sum", queue=Q) == pytest.approx(70.0)
    assert value("callcenter_queue_handle_seconds_count", queue=Q) == 1
