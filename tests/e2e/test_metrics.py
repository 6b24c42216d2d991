"""``/metrics`` and ``/api/kpis`` on the real service: access, dashboards, faults, figures.

- who may scrape (401/403, or anyone with ``metrics.public``);
- every metric the Grafana dashboard and the alert rules in ``deploy/`` use exists in a real
  scrape (so a renamed metric cannot silently blank a panel or disarm an alert);
- Redis lost: the live gauges disappear and ``callcenter_live_state_up`` is 0 (no stale
  figures), and they come back with Redis;
- scripted calls (one abandoned, two answered after known waits) give counters, histograms,
  KPI gauges and ``/api/kpis`` figures equal to the values worked out by hand from the calls'
  own records.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import (
    AGENT_TOKEN,
    SUPERVISOR_TOKEN,
    Service,
    running_service,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "agent-pass-123"
T = TypeVar("T")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(service: Service, token: str | None = SUPERVISOR_TOKEN) -> tuple[int, str, str]:
    """(status, content type, body) of ``GET /metrics``."""
    request = urllib.request.Request(f"http://127.0.0.1:{service.http_port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], error.read().decode()


class Page:
    """A parsed scrape: families (by name, also with ``_total`` for counters) and samples."""

    def __init__(self, text: str) -> None:
        self.names: set[str] = set()
        self.samples: Samples = {}
        for family in text_string_to_metric_families(text):
            self.names.add(family.name)
            if family.type == "counter":
                self.names.add(family.name + "_total")
            for sample in family.samples:
                self.names.add(sample.name)
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def has_samples(self, name: str) -> bool:
        return any(n == name for n, _ in self.samples)


def page(service: Service, token: str | None = SUPERVISOR_TOKEN) -> Page:
    status, _, body = scrape(service, token)
    assert status == 200, body
    return Page(body)


def until(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not reached in {timeout} s")


def until_page(
    service: Service, what: str, ready: Callable[[Page], bool], token: str | None = SUPERVISOR_TOKEN
) -> Page:
    """Scrape until ``ready`` holds for the page; that page."""

    def check() -> Page | None:
        found = page(service, token)
        return found if ready(found) else None

    return until(what, check)


def used_metric_names() -> dict[str, set[str]]:
    """Metric names in every PromQL expression of the dashboard and the alert rules."""
    exprs: dict[str, list[str]] = {"dashboard": [], "alerts": []}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    exprs["dashboard"].append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads((REPO / "deploy/grafana/callcenter.json").read_text()))
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    exprs["alerts"] = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {
        where: {n for e in found for n in re.findall(r"\bcallcenter_[a-z0-9_]+", e)}
        for where, found in exprs.items()
    }


def test_scrapers_need_a_supervisor_token_and_every_deployed_metric_exists(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path) as service:
        status, kind, body = scrape(service, None)
        assert (status, json.loads(body)["error_id"]) == (401, "unauthorized")
        assert kind == "application/json"
        status, _, body = scrape(service, AGENT_TOKEN)
        assert (status, json.loads(body)["error_id"]) == (403, "forbidden")
        status, kind, body = scrape(service, SUPERVISOR_TOKEN)
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")

        found = until_page(service, "KPIs current", lambda p: p.value("callcenter_kpi_up") == 1)
        assert found.value("callcenter_live_state_up") == 1
        for queue in ("billing", "support", "sales"):  # the default queues, nobody waiting
            assert found.value("callcenter_queue_calls_waiting", queue=queue) == 0
            assert found.value("callcenter_queue_calls_offered_total", queue=queue) == 0
            assert found.value("callcenter_queue_service_level_target_ratio", queue=queue) == 0.8
        assert found.value("callcenter_calls_in_progress") == 0
        assert found.value("callcenter_media_worker_crashes_total") == 0

        used = used_metric_names()
        assert len(used["dashboard"]) >= 20 and len(used["alerts"]) >= 8, used
        for where, names in used.items():
            missing = sorted(names - found.names)
            assert not missing, f"{where} uses metrics that no scrape has: {missing}"


def test_a_redis_outage_is_a_gap_in_the_live_figures_not_stale_ones(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = {"metrics": {"public": True}}
    with running_service(tmp_path, redis_url=redis_server.url, settings=settings) as service:
        before = until_page(
            service, "live and KPIs", lambda p: p.value("callcenter_kpi_up") == 1, token=None
        )
        assert before.value("callcenter_live_state_up") == 1
        assert before.has_samples("callcenter_queue_calls_waiting")
        assert before.has_samples("callcenter_queue_window_calls")

        redis_server.stop()
        try:
            during = until_page(
                service,
                "a scrape without Redis",
                lambda p: (
                    p.value("callcenter_live_state_up") == 0 and p.value("callcenter_kpi_up") == 0
                ),
                token=None,
            )
            for live in (
                "callcenter_queue_calls_waiting",
                "callcenter_queue_longest_wait_seconds",
                "callcenter_queue_agents_logged_in",
                "callcenter_calls_in_progress",
                "callcenter_sip_registrations",
                "callcenter_queue_window_calls",
                "callcenter_queue_service_level_target_ratio",
            ):
                assert not during.has_samples(live), live
            # This process's own figures are still there, and say Redis is lost.
            assert during.value("callcenter_redis_up") == 0
            assert during.has_samples("callcenter_media_workers")
            assert during.value("callcenter_queue_calls_offered_total", queue="support") == 0
        finally:
            redis_server.start_again()
        after = until_page(
            service,
            "live figures back",
            lambda p: (
                p.value("callcenter_live_state_up") == 1 and p.value("callcenter_kpi_up") == 1
            ),
            token=None,
        )
        assert after.value("callcenter_queue_calls_waiting", queue="support") == 0


# --- scripted calls ---------------------------------------------------------------------

THRESHOLD = 4.0  # service_level_seconds of the queue
SHORT = 1.0  # short_abandon_seconds
WRAP_UP = 1.0


def queue_settings(tmp_path: Path) -> dict[str, Any]:
    """One queue, ``support``, that the number 200 leads straight into; agents ann and bob."""
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "queue.yaml").write_text(
        "version: 1\nstart: q\nnodes:\n  q: {type: queue, queue: support}\n"
    )
    agents = [
        {"id": name, "name": name.title(), "password": PASSWORD, "queues": ["support"]}
        for name in ("ann", "bob")
    ]
    return {
        "flows_dir": str(flows),
        "numbers": {"200": "queue.yaml"},
        "queues": {
            "support": {
                "service_level_seconds": THRESHOLD,
                "service_level_target": 0.9,
                "short_abandon_seconds": SHORT,
                "wrap_up_seconds": WRAP_UP,
                "ring_timeout_seconds": 15,
            }
        },
        "agents": agents,
    }


@pytest.fixture
def call_service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path, settings=queue_settings(tmp_path)) as service:
        yield service


def _agent_phone(service: Service, name: str) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username=name,
        password=PASSWORD,
        answer_after=1.0,
        wait=90,
        duration=30,
    )
    assert phone.wait_ready().get("registered")
    return phone


def _login(service: Service, agent_id: str) -> None:
    status, body = service.api(f"/api/agents/{agent_id}/login", method="POST", body={})
    assert status == 200, body


def _newest_call(service: Service, known: set[str]) -> str:
    def new() -> str | None:
        status, body = service.api("/api/calls?limit=10")
        assert status == 200, body
        fresh = [c["call_id"] for c in body["calls"] if c["call_id"] not in known]
        return fresh[0] if fresh else None

    call_id = until("the new call's record", new)
    known.add(call_id)
    return call_id


def test_scripted_calls_give_the_hand_computed_figures(
    call_service: Service, tmp_path: Path
) -> None:
    service = call_service
    uri = f"sip:200@{service.sip_uri_host}"
    known: set[str] = set()
    ann, bob = _agent_phone(service, "ann"), _agent_phone(service, "bob")

    # C: nobody logged in; the caller waits ~3 s in the queue and hangs up: abandoned.
    c_phone = start_phone(uri, duration=3.0)
    c = _newest_call(service, known)
    c_phone.wait()
    # A: ann answers after ~1 s of ringing (within the 4 s threshold); talks ~16 s, so ann
    # is still busy when B is answered.
    _login(service, "ann")
    a_phone = start_phone(uri, duration=18.0)
    a = _newest_call(service, known)
    service.wait_call(a, lambda r: r["connected_at"] is not None)
    # B: ann is busy and bob logged out: B waits; bob logs in after ~5 s (over the threshold).
    b_phone = start_phone(uri, duration=12.0)
    b = _newest_call(service, known)
    service.wait_call(b, lambda r: r["outcome"] == "queued")

    # While B waits: the live gauges show it.
    live = until_page(
        service,
        "B waiting for 5 s",
        lambda p: (p.value("callcenter_queue_longest_wait_seconds", queue="support") or 0) >= 5,
    )
    assert live.value("callcenter_queue_calls_waiting", queue="support") == 1
    assert live.value("callcenter_agent_status", agent="ann", status="on-call") == 1
    assert live.value("callcenter_agent_status", agent="bob", status="offline") == 1
    assert live.value("callcenter_queue_agents_logged_in", queue="support") == 1
    assert live.value("callcenter_calls_in_progress") == 2  # A talking, B waiting
    assert live.value("callcenter_sip_registrations") == 2  # both phones
    _login(service, "bob")

    for phone in (a_phone, b_phone):
        phone.wait()
    assert ann.wait_agent().answered and bob.wait_agent().answered
    records = {k: service.wait_call(k, lambda r: r["ended_at"] is not None) for k in (a, b, c)}
    assert [records[k]["outcome"] for k in (a, b, c)] == ["completed", "completed", "abandoned"]
    assert (records[a]["agent"], records[b]["agent"]) == ("ann", "bob")

    # By hand, from the records: waits, who met the threshold, talk times.
    wait_a, wait_b, wait_c = (float(records[k]["wait"]) for k in (a, b, c))
    assert wait_b > THRESHOLD and wait_c >= SHORT  # as scripted
    answered_within = sum(w <= THRESHOLD for w in (wait_a, wait_b))  # 1 (A) on a quiet machine
    abandoned_within = int(wait_c <= THRESHOLD)
    service_level = answered_within / (2 + 1 - 0)  # answered + abandoned - short abandons
    asa = (wait_a + wait_b) / 2
    abandon_rate = 1 / (2 + 1)
    talks = [records[k]["ended_at"] - records[k]["connected_at"] for k in (a, b)]
    aht = (sum(talks) + 2 * WRAP_UP) / 2

    final = until_page(
        service,
        "both wrap-ups counted",
        lambda p: (
            p.value("callcenter_queue_handle_seconds_count", queue="support") == 2
            and p.value(
                "callcenter_queue_window_calls", queue="support", window="15m", kind="handled"
            )
            == 2
        ),
    )
    q = {"queue": "support"}
    assert final.value("callcenter_queue_calls_offered_total", **q) == 3
    assert final.value("callcenter_queue_calls_answered_total", **q) == 2
    assert final.value("callcenter_queue_calls_abandoned_total", **q) == 1
    assert final.value("callcenter_queue_calls_short_abandoned_total", **q) == 0
    answered = {"queue": "support", "outcome": "answered"}
    assert final.value("callcenter_queue_wait_seconds_count", **answered) == 2
    assert final.value("callcenter_queue_wait_seconds_sum", **answered) == pytest.approx(
        wait_a + wait_b, abs=0.01
    )
    assert final.value("callcenter_queue_wait_seconds_bucket", le="5.0", **answered) == sum(
        w <= 5 for w in (wait_a, wait_b)
    )
    abandoned = {"queue": "support", "outcome": "abandoned"}
    assert final.value("callcenter_queue_wait_seconds_sum", **abandoned) == pytest.approx(
        wait_c, abs=0.05
    )
    assert final.value("callcenter_queue_handle_seconds_sum", **q) == pytest.approx(
        sum(talks) + 2 * WRAP_UP, abs=0.5
    )
    window = {"queue": "support", "window": "15m"}
    assert final.value("callcenter_queue_service_level_ratio", **window) == pytest.approx(
        service_level, abs=1e-6
    )
    assert final.value("callcenter_queue_asa_seconds", **window) == pytest.approx(asa, abs=0.02)
    assert final.value("callcenter_queue_abandon_ratio", **window) == pytest.approx(abandon_rate)
    assert final.value("callcenter_queue_aht_seconds", **window) == pytest.approx(aht, abs=0.3)
    assert final.value("callcenter_queue_window_calls", kind="offered", **window) == 3
    assert final.value("callcenter_queue_window_calls", kind="answered_within", **window) == (
        answered_within
    )
    assert final.value("callcenter_queue_service_level_target_ratio", **q) == 0.9
    assert final.value("callcenter_queue_calls_waiting", **q) == 0
    assert final.value("callcenter_calls_in_progress") == 0

    status, body = service.api("/api/kpis?window=15m&queue=support", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    kpis = body["queue"]
    assert (kpis["offered"], kpis["answered"], kpis["abandoned"]) == (3, 2, 1)
    assert kpis["short_abandons"] == 0 and kpis["handled"] == 2
    assert kpis["answered_within_threshold"] == answered_within
    assert kpis["service_level"] == pytest.approx(service_level, abs=1e-4)
    assert kpis["asa_seconds"] == pytest.approx(asa, abs=0.02)
    assert kpis["aht_seconds"] == pytest.approx(aht, abs=0.3)
    assert kpis["abandon_rate"] == pytest.approx(abandon_rate, abs=1e-4)
    assert kpis["service_level_seconds"] == THRESHOLD
    assert abandoned_within == 1  # C hung up after ~3 s: within T, not a short abandon
    status, body = service.api("/api/kpis?window=today", token=SUPERVISOR_TOKEN)
    assert status == 200 and body["overall"]["answered"] == 2


def test_two_processes_report_the_same_live_figures_and_their_own_counters(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    shared = queue_settings(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()

    def waiting(p: Page) -> bool:
        offered = {"queue": "support", "window": "15m", "kind": "offered"}
        return (
            p.value("callcenter_queue_calls_waiting", queue="support") == 1
            and p.value("callcenter_queue_window_calls", **offered) == 1
        )

    with (
        running_service(tmp_path / "a", redis_url=redis_server.url, settings=shared) as a,
        running_service(tmp_path / "b", redis_url=redis_server.url, settings=shared) as b,
    ):
        caller = start_phone(f"sip:200@{a.sip_uri_host}", duration=8.0)  # waits: nobody in
        try:
            _login(b, "ann")  # through the other process
            seen = {
                n: until_page(s, f"{n} sees the caller", waiting) for n, s in (("a", a), ("b", b))
            }
            for found in seen.values():
                assert found.value("callcenter_calls_in_progress") == 1
                assert found.value("callcenter_agent_status", agent="ann", status="available") == 1
                assert found.value("callcenter_queue_agents_logged_in", queue="support") == 1
                longest = found.value("callcenter_queue_longest_wait_seconds", queue="support")
                assert longest is not None and longest > 0
            # Counters are per process: only the one holding the caller counted it.
            assert seen["a"].value("callcenter_queue_calls_offered_total", queue="support") == 1
            assert seen["b"].value("callcenter_queue_calls_offered_total", queue="support") == 0
            assert seen["a"].value("callcenter_process_calls_active") == 1
            assert seen["b"].value("callcenter_process_calls_active") == 0
        finally:
            caller.wait()
