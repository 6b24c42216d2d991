"""This process's moving parts as metrics, read from their own statistics at scrape time.

The SIP front, the registrar, the media worker pool and the Redis link already count what
they do (``/healthz`` shows the same numbers); this collector turns them into Prometheus
families when scraped, so those modules need no Prometheus code of their own.

-*- test-case-name: tests.e2e.test_metrics -*-
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class Parts:
    """Readers of each part's statistics; a part not started (yet) reads as None."""

    pool: Callable[[], Any | None]  # WorkerPool
    front: Callable[[], Any | None]  # SipFront
    registrar: Callable[[], Any | None]  # Registrar
    link: Callable[[], Any | None]  # RedisLink
    active_calls: Callable[[], int | None]  # this process's call sessions


REGISTRAR_RESULTS = (
    ("registered", "registered"),
    ("unregistered", "unregistered"),
    ("challenged", "challenged"),
    ("auth_failures", "auth-failure"),
    ("stale", "stale"),
    ("blocked", "blocked"),
    ("retransmissions", "retransmission"),
    ("errors", "error"),
)


class ServiceHealthCollector(Collector):
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        yield from self._pool()
        yield from self._front()
        yield from self._registrar()
        yield from self._link()
        active = self._parts.active_calls()
        if active is not None:
            yield GaugeMetricFamily(
                "callcenter_process_calls_active",
                "Calls this process is handling now (IVR, queued or talking)",
                value=active,
            )

    def _pool(self) -> Iterator[Metric]:
        pool = self._parts.pool()
        if pool is None:
            return
        stats = pool.stats()
        workers = GaugeMetricFamily(
            "callcenter_media_workers", "Media worker processes, by state", labels=["state"]
        )
        workers.add_metric(["starting"], stats.starting)
        workers.add_metric(["ready"], stats.ready)
        workers.add_metric(["stopping"], max(0, stats.workers - stats.starting - stats.ready))
        yield workers
        slots = GaugeMetricFamily(
            "callcenter_media_call_slots",
            "Call slots in starting and ready workers: busy, and free for new callers",
            labels=["state"],
        )
        slots.add_metric(["busy"], stats.busy_slots)
        slots.add_metric(["free"], stats.free_slots)
        yield slots
        yield GaugeMetricFamily(
            "callcenter_media_calls", "Callers placed on media workers", value=stats.calls
        )
        yield GaugeMetricFamily(
            "callcenter_media_agent_legs", "Agent legs dialled from media workers", value=stats.legs
        )
        for name, doc, value in (
            ("spawns", "Media workers started", stats.spawned),
            ("retirements", "Idle media workers retired", stats.retired),
            ("crashes", "Media workers that exited unexpectedly", stats.crashed),
            (
                "start_failures",
                "Media workers that died before becoming ready (also counted in crashes)",
                getattr(pool, "start_failures", 0),
            ),
        ):
            yield CounterMetricFamily(f"callcenter_media_worker_{name}", doc, value=value)

    def _front(self) -> Iterator[Metric]:
        front = self._parts.front()
        if front is None:
            return
        stats: Mapping[str, Any] = front.stats()
        yield GaugeMetricFamily(
            "callcenter_sip_dialogs", "Live SIP dialogs through the front", value=stats["dialogs"]
        )
        requests = CounterMetricFamily(
            "callcenter_sip_requests", "SIP requests received, by method", labels=["method"]
        )
        for method, count in sorted(stats["requests"].items()):
            requests.add_metric([str(method)], count)
        yield requests
        rejects = CounterMetricFamily(
            "callcenter_sip_rejects",
            "Error responses the front generated itself, by status code",
            labels=["code"],
        )
        for code, count in sorted(stats["rejects"].items()):
            rejects.add_metric([str(code)], count)
        yield rejects
        for key, doc in (
            ("rate_limited", "SIP requests refused by the per-source rate limits"),
            ("parse_errors", "SIP messages that could not be parsed"),
            ("dropped", "SIP messages ignored (stray, unroutable, garbage)"),
            ("retransmissions_absorbed", "Retransmissions answered without reprocessing"),
            ("aborted", "SIP dialogs aborted by the service"),
            ("internal_errors", "Internal errors while handling a SIP message"),
        ):
            yield CounterMetricFamily(f"callcenter_sip_{key}", doc, value=stats[key])

    def _registrar(self) -> Iterator[Metric]:
        registrar = self._parts.registrar()
        if registrar is None:
            return
        family = CounterMetricFamily(
            "callcenter_sip_registrar_requests",
            "REGISTER requests handled by this process, by result",
            labels=["result"],
        )
        for field, label in REGISTRAR_RESULTS:
            family.add_metric([label], getattr(registrar.stats, field))
        yield family

    def _link(self) -> Iterator[Metric]:
        link = self._parts.link()
        if link is None:
            return
        yield GaugeMetricFamily(
            "callcenter_redis_up", "1 while this process reaches Redis", value=int(link.healthy)
        )
        yield GaugeMetricFamily(
            "callcenter_redis_pending_writes",
            "Writes queued for Redis (replayed when it is back)",
            value=link.pending,
        )
        yield CounterMetricFamily(
            "callcenter_redis_outages", "Times this process lost Redis", value=link.outages
        )
