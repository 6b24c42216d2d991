"""End-to-end fault tests: the real ``callcenter serve`` process, real sipp callers, real Redis.

Each test breaks something a contact centre meets in production (a media worker dies, Redis
goes away or is missing at start, the service is stopped with callers on the line, a flow file
is broken, junk or a flood arrives on the SIP port, the API is called without the right token)
and asserts what a caller, a supervisor or an operator would notice: who gets a BYE or a 503,
what the call record says, what ``/healthz`` says, that no process is left behind, and that the
service still takes the next call.

Call ids are fixed with sipp's ``-cid_str`` (``<name>-1@<ip>``), so records can be read by id.
The flows are ``tests/e2e/flows/faults.yaml`` (number 100: a menu, "1" or no answer → hold)
and ``faults_hold.yaml`` (number 200: "Please hold." then hold), which do not depend on the
time of day.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import redis

from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.service import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    SUPERVISOR_TOKEN,
    Service,
    running_service,
    write_config,
)
from tests.support.sipp import SippResult, SippRun, scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

FLOWS = Path(__file__).resolve().parent / "flows"
MENU = "100"  # faults.yaml
HOLD = "200"  # faults_hold.yaml
REPO = Path(__file__).resolve().parents[2]
IVR_CALLER = REPO / "bench" / "scenarios" / "ivr_call.xml"  # INFO "1" after 3 s, -d, BYE
WORKER_MODULE = "callcenter.media.worker"

T = TypeVar("T")


# --- helpers -----------------------------------------------------------------------------


def fault_settings(**sections: Any) -> dict[str, Any]:
    """Service settings serving the deterministic fault flows (plus ``sections``)."""
    settings: dict[str, Any] = {
        "flows_dir": str(FLOWS),
        "numbers": {MENU: "faults.yaml", HOLD: "faults_hold.yaml"},
        "queues": {"faults": {}},  # the queue the fault flows hold callers in
    }
    settings.update(sections)
    return settings


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def worker_processes(service: Service) -> list[psutil.Process]:
    found = []
    for child in descendants(service.process.pid):
        try:
            if WORKER_MODULE in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def kill_survivors(processes: list[psutil.Process]) -> list[psutil.Process]:
    """SIGKILL whatever is still alive (so a failing test leaves nothing); return those."""
    survivors = [p for p in processes if alive(p)]
    for process in survivors:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    return survivors


@contextmanager
def serve(tmp_path: Path, **kwargs: Any) -> Iterator[Service]:
    """``running_service`` that also kills any child (worker, embedded Redis) left behind."""
    children: list[psutil.Process] = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    with running_service(tmp_path, **kwargs) as service:
        try:
            yield service
        except BaseException:
            print(f"--- service log (tail) ---\n{service.log()[-12000:]}")  # shown on failure
            raise
        finally:
            children = descendants(service.process.pid)
    time.sleep(0.2)
    kill_survivors(children)


def health(service: Service) -> tuple[int, dict[str, Any]]:
    status, body = service.api("/healthz", token=None)
    return status, dict(body)


class Callers:
    """sipp callers of one test; every one is killed at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs: list[SippRun] = []

    def new(
        self,
        service: Service,
        name: str,
        scenario_path: Path,
        number: str = HOLD,
        *,
        local_ip: str = "127.0.0.1",
        duration_ms: int | None = None,
        timeout_s: float = 20.0,
        recv_timeout_ms: int = 10_000,
        calls: int = 1,
        rate: float | None = None,
        max_concurrent: int | None = None,
    ) -> SippRun:
        """A caller whose (first) call has the SIP Call-ID ``call_id(name, local_ip)``."""
        run = SippRun(
            scenario_path,
            self.workdir,
            (local_ip, free_port(local_ip)),
            ("127.0.0.1", service.sip_port),
            service=number,
            calls=calls,
            rate=rate,
            max_concurrent=max_concurrent,
            duration_ms=duration_ms,
            timeout_s=timeout_s,
            recv_timeout_ms=recv_timeout_ms,
            media_port=free_port(local_ip),
            name=name,
            extra_args=["-cid_str", f"{name}-%u@%s"],
        )
        self.runs.append(run)
        return run

    def kill_all(self) -> None:
        for run in self.runs:
            run.kill()


def call_id(name: str, local_ip: str = "127.0.0.1") -> str:
    return f"{name}-1@{local_ip}"


@pytest.fixture
def callers(tmp_path: Path) -> Iterator[Callers]:
    group = Callers(tmp_path / "sipp")
    try:
        yield group
    finally:
        group.kill_all()


def finished(result: SippResult) -> SippResult:
    assert result.ok, result.describe()
    return result


def is_queued(record: dict[str, Any]) -> bool:
    return bool(record["outcome"] == "queued")


def is_ended(record: dict[str, Any]) -> bool:
    return record["ended_at"] is not None


def node_names(record: dict[str, Any]) -> list[str]:
    return [str(n["node"]) for n in record["nodes"]]


def answered_rtp_port(run: SippRun) -> int:
    """The RTP port the service's worker answered with (m= line of the 200 OK's SDP)."""

    def port() -> int | None:
        text = run.messages.read_text(errors="replace") if run.messages.exists() else ""
        answer = text.partition("SIP/2.0 200 OK")[2]
        found = re.search(r"^m=audio (\d+)", answer, re.MULTILINE)
        return int(found.group(1)) if found else None

    return wait_for(f"the SDP answer in {run.messages}", port)


def worker_holding(service: Service, rtp_port: int) -> psutil.Process:
    def find() -> psutil.Process | None:
        for worker in worker_processes(service):
            try:
                ports = {c.laddr.port for c in worker.net_connections("udp") if c.laddr}
            except psutil.NoSuchProcess:
                continue
            if rtp_port in ports:
                return worker
        return None

    return wait_for(f"the worker bound to RTP port {rtp_port}", find)


def redis_record(url: str, call: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        raw = client.get(f"cc:call:{call}")
    finally:
        client.close()
    return None if raw is None else dict(json.loads(str(raw)))


def redis_events(url: str, call: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries = client.xrange("cc:events") or []
    finally:
        client.close()
    return [
        {str(k): str(v) for k, v in fields.items()}
        for _, fields in entries
        if fields and fields.get("call_id") == call
    ]


def redis_event_types(url: str, call: str) -> list[str]:
    return [event["type"] for event in redis_events(url, call)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}


def serve_until_exit(
    tmp_path: Path, settings: dict[str, Any], extra_args: list[str], timeout: float = 30.0
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``callcenter serve`` expecting it to refuse to start; (result, seconds taken)."""
    config: dict[str, Any] = {
        "sip": {"host": "127.0.0.1", "port": free_port()},
        "http": {"host": "127.0.0.1", "port": free_port(), "tokens": {ADMIN_TOKEN: "admin"}},
        **settings,
    }
    config_path = tmp_path / "callcenter.yaml"
    write_config(config_path, config)
    args = [sys.executable, "-m", "callcenter", "serve", "--config", str(config_path)]
    args += ["--data-dir", str(tmp_path / "data"), *extra_args]
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - started


def processes_mentioning(path: Path) -> list[psutil.Process]:
    """Live processes with ``path`` in their command line (e.g. an embedded redis-server)."""
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(path) in arg for arg in p.info["cmdline"] or []) and alive(p)
    ]


def unusual_rtp_base() -> int:
    """An odd RTP port base: other services' workers (bases multiple of 20) never have it."""
    return 50001 + 2 * (os.getpid() % 3000) + 2 * (time.monotonic_ns() % 1000)


def workers_started_with_rtp_base(base: int) -> list[psutil.Process]:
    """Media worker processes anywhere on the machine started with this RTP port base."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if WORKER_MODULE in cmdline and str(base) in cmdline and alive(process):
            found.append(process)
    return found


# --- 1. media worker crash ---------------------------------------------------------------


def test_worker_crash_fails_its_call_only(tmp_path: Path, callers: Callers) -> None:
    # 4 slots per call: each worker holds one caller, so the two callers are on two workers.
    with serve(tmp_path, settings=fault_settings(media={"slots_per_call": 4})) as service:
        victim = callers.new(service, "crash-victim", scenario("uac_wait_bye"), timeout_s=30)
        victim.start()
        service.wait_call(call_id("crash-victim"), is_queued)
        survivor = callers.new(
            service, "crash-survivor", scenario("uac_call"), duration_ms=6000, timeout_s=30
        )
        survivor.start()
        service.wait_call(call_id("crash-survivor"), is_queued)

        doomed = worker_holding(service, answered_rtp_port(victim))
        other = worker_holding(service, answered_rtp_port(survivor))
        assert doomed.pid != other.pid, "the two callers share a worker; placement changed?"
        doomed.kill()

        # The victim's caller is sent a BYE (its scenario waits for one and answers 200).
        result = finished(victim.wait(timeout=15))
        assert "media worker crashed" in result.message_log()  # the BYE's Reason header
        record = service.wait_call(call_id("crash-victim"), is_ended)
        assert record["outcome"] == "failed", record
        assert "worker crashed" in str(record["end_reason"]), record
        assert record["ended_by"] == "system"
        assert record["end_node"] == "hold"

        # The other caller is still on hold, on its own worker, and hangs up normally.
        assert service.call(call_id("crash-survivor"))["outcome"] == "queued"
        assert alive(other)
        finished(survivor.wait(timeout=20))
        record = service.wait_call(call_id("crash-survivor"), is_ended)
        assert record["outcome"] == "abandoned", record
        assert record["ended_by"] == "caller"

        status, body = health(service)
        assert status == 200, body
        assert body["workers"]["crashed"] >= 1, body
        # The dead worker is replaced and a new caller is served.
        after = callers.new(service, "crash-after", scenario("uac_call"), duration_ms=1500)
        finished(after.run())
        record = service.wait_call(call_id("crash-after"), is_ended)
        assert record["outcome"] == "abandoned" and "hold" in node_names(record), record
        assert doomed.pid not in {w.pid for w in worker_processes(service)}


# --- 2. Redis lost while running ---------------------------------------------------------


@contextmanager
def thawed_at_exit(server: RedisServer) -> Iterator[None]:
    """Whatever happens, a frozen (SIGSTOP) redis-server is resumed so that it can be stopped."""
    try:
        yield
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_redis_outage_keeps_calls_and_replays_their_records(
    tmp_path: Path, callers: Callers, redis_server: RedisServer, outage: str
) -> None:
    """``stopped``: connections refused at once. ``frozen`` (SIGSTOP, like a network partition
    or a Redis stuck on disk): nothing answers, so only timeouts tell."""
    with (
        thawed_at_exit(redis_server),
        serve(tmp_path, redis_url=redis_server.url, settings=fault_settings()) as service,
    ):
        # A caller in the menu; it presses 1 (SIP INFO) 3 s after the answer, holds 4 s, hangs up.
        ongoing = callers.new(
            service, "outage-ongoing", IVR_CALLER, MENU, duration_ms=4000, timeout_s=30
        )
        ongoing.start()
        service.wait_call(call_id("outage-ongoing"), lambda r: node_names(r) == ["menu"])

        if outage == "stopped":
            redis_server.stop()
        else:
            redis_server.process.send_signal(signal.SIGSTOP)

        def redis_down() -> dict[str, Any] | None:
            status, body = health(service)
            return body if status == 503 and not body["redis"]["healthy"] else None

        down = wait_for("/healthz to report Redis down", redis_down, timeout=15)
        assert down["status"] == "degraded"

        # A new caller is refused with a clear reason.
        refused = callers.new(service, "outage-new", scenario("uac_rejected"))
        log = finished(refused.run()).message_log()
        assert "SIP/2.0 503 State Store Unavailable" in log, log
        # Records cannot be read meanwhile: a clear 503, not a crash.
        status, error = service.api(f"/api/calls/{call_id('outage-ongoing')}")
        assert (status, error["error_id"]) == (503, "service-unavailable"), error

        # The call in progress carries on: its digit is taken, it queues, it hangs up cleanly.
        finished(ongoing.wait(timeout=20))
        status, body = health(service)
        assert status == 503 and body["redis"]["pending_writes"] > 0, body

        if outage == "stopped":
            redis_server.start_again()
        else:
            redis_server.process.send_signal(signal.SIGCONT)
        wait_for("/healthz to be 200 again", lambda: health(service)[0] == 200, timeout=10)
        wait_for(
            "pending writes replayed", lambda: health(service)[1]["redis"]["pending_writes"] == 0
        )

        record = redis_record(redis_server.url, call_id("outage-ongoing"))
        assert record is not None
        assert record["outcome"] == "abandoned", record
        assert node_names(record) == ["menu", "hold"], record
        assert [(d["digit"], d["method"]) for d in record["digits"]] == [("1", "info")], record
        answered = service.call(call_id("outage-ongoing"))  # the record, plus history fields
        assert {key: answered[key] for key in record} == record
        events = redis_event_types(redis_server.url, call_id("outage-ongoing"))
        # In order and none lost. (A write in flight when Redis froze may land twice: see
        # test_write_in_flight_when_redis_freezes_is_not_duplicated; collapsed here.)
        assert collapse_repeats(events) == [
            "call.arrived",
            "call.answered",
            "ivr.node",
            "ivr.digit",
            "ivr.choice",
            "ivr.node",
            "call.queued",
            "call.ended",
        ], events

        accepted = callers.new(service, "outage-after", scenario("uac_call"), duration_ms=1000)
        finished(accepted.run())
        service.wait_call(call_id("outage-after"), is_ended)


def collapse_repeats(items: list[T]) -> list[T]:
    return [item for i, item in enumerate(items) if i == 0 or item != items[i - 1]]


def test_write_in_flight_when_redis_freezes_is_not_duplicated(
    tmp_path: Path, callers: Callers, redis_server: RedisServer
) -> None:
    with (
        thawed_at_exit(redis_server),
        serve(tmp_path, redis_url=redis_server.url, settings=fault_settings()) as service,
    ):
        redis_server.process.send_signal(signal.SIGSTOP)
        # Redis froze a moment ago; the service does not know yet (a ping takes 2 s to time
        # out), so it admits this call and sends its first writes to the frozen Redis.
        run = callers.new(service, "frozen-write", scenario("uac_call"), duration_ms=3000)
        finished(run.run())
        wait_for("the outage to be noticed", lambda: health(service)[0] == 503, timeout=15)
        redis_server.process.send_signal(signal.SIGCONT)
        wait_for("/healthz to be 200 again", lambda: health(service)[0] == 200, timeout=10)
        wait_for("replay", lambda: health(service)[1]["redis"]["pending_writes"] == 0)
        record = service.wait_call(call_id("frozen-write"), is_ended)
        assert record["outcome"] == "abandoned", record
        events = redis_events(redis_server.url, call_id("frozen-write"))
        ids = [event["id"] for event in events]
        assert len(ids) == len(set(ids)), f"events written twice: {events}"
        facts = [(event["type"], event["data"]) for event in events]
        assert facts == collapse_repeats(facts), f"events written twice: {facts}"


# --- 3. Redis unreachable at start -------------------------------------------------------


def test_redis_unreachable_at_start_exits_with_clear_message(tmp_path: Path) -> None:
    rtp_base = unusual_rtp_base()
    password = "hunter2-do-not-print"
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    result, took = serve_until_exit(
        tmp_path, fault_settings(media={"rtp_port_start": rtp_base}), ["--redis-url", url]
    )
    assert result.returncode == 1, result
    assert took < 10, f"took {took:.1f}s to give up"
    assert "cannot reach Redis at" in result.stderr, result.stderr
    assert "127.0.0.1" in result.stderr
    assert password not in result.stderr + result.stdout
    assert not workers_started_with_rtp_base(rtp_base)


# --- 4, 5. stopping with calls in progress; embedded Redis keeps records -------------------


def test_sigterm_hangs_up_calls_and_leaves_no_process(
    tmp_path: Path, callers: Callers, redis_server: RedisServer
) -> None:
    with serve(tmp_path, redis_url=redis_server.url, settings=fault_settings()) as service:
        runs = []
        for name in ("term-a", "term-b"):
            run = callers.new(service, name, scenario("uac_wait_bye"), timeout_s=30)
            runs.append(run.start())
        for name in ("term-a", "term-b"):
            service.wait_call(call_id(name), is_queued)
        children = descendants(service.process.pid)
        assert len([p for p in children if WORKER_MODULE in p.cmdline()]) >= 2

        started = time.monotonic()
        code = service.stop(signal.SIGTERM, timeout=20)
        took = time.monotonic() - started
        assert code == 0, service.log()[-3000:]
        assert took < 10, f"stopping took {took:.1f}s"
        for run in runs:  # every caller got a BYE
            finished(run.wait(timeout=10))
        survivors = wait_for_gone(children)
        assert not survivors, f"left behind: {survivors}"

    for name in ("term-a", "term-b"):
        record = redis_record(redis_server.url, call_id(name))
        assert record is not None
        assert record["outcome"] == "failed", record
        assert record["end_reason"] == "service stopping", record
        assert record["end_node"] == "hold"


def wait_for_gone(processes: list[psutil.Process], timeout: float = 5.0) -> list[psutil.Process]:
    """Wait for these processes to end; kill and return the ones that did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in processes):
        time.sleep(0.1)
    return kill_survivors(processes)


def test_sigint_with_embedded_redis_then_restart_keeps_records(
    tmp_path: Path, callers: Callers
) -> None:
    data_dir = tmp_path / "data"
    with serve(tmp_path / "first", settings=fault_settings(), data_dir=data_dir) as service:
        done = callers.new(service, "embedded-done", scenario("uac_call"), duration_ms=1500)
        finished(done.run())
        service.wait_call(call_id("embedded-done"), is_ended)
        on_line = callers.new(service, "embedded-sigint", scenario("uac_wait_bye"), timeout_s=30)
        on_line.start()
        service.wait_call(call_id("embedded-sigint"), is_queued)
        children = descendants(service.process.pid)
        assert len(children) >= 2  # the embedded redis-server and at least one worker

        assert service.stop(signal.SIGINT, timeout=20) == 0, service.log()[-3000:]
        finished(on_line.wait(timeout=10))
        survivors = wait_for_gone(children)
        assert not survivors, f"left behind (redis-server or workers): {survivors}"

    with serve(tmp_path / "second", settings=fault_settings(), data_dir=data_dir) as service:
        record = service.call(call_id("embedded-done"))
        assert record["outcome"] == "abandoned" and node_names(record) == ["welcome", "hold"]
        record = service.call(call_id("embedded-sigint"))
        assert (record["outcome"], record["end_reason"]) == ("failed", "service stopping")
        status, recent = service.api("/api/calls?limit=10")
        assert status == 200
        ids = [c["call_id"] for c in recent["calls"]]
        assert ids == [call_id("embedded-sigint"), call_id("embedded-done")], ids


def test_controller_killed_leaves_no_process_and_restarts_cleanly(
    tmp_path: Path, callers: Callers
) -> None:
    """SIGKILL (or the OOM killer) gives no chance to clean up: the children must notice."""
    data_dir = tmp_path / "data"
    with serve(tmp_path / "first", settings=fault_settings(), data_dir=data_dir) as service:
        done = callers.new(service, "killed-done", scenario("uac_call"), duration_ms=1000)
        finished(done.run())
        service.wait_call(call_id("killed-done"), is_ended)
        children = descendants(service.process.pid)
        assert any(WORKER_MODULE in p.cmdline() for p in children)
        assert any("redis-server" in p.name() for p in children)
        service.process.kill()
        service.process.wait(10)
        survivors = wait_for_gone(children)
        assert not survivors, f"left behind by a killed controller: {survivors}"

    with serve(tmp_path / "second", settings=fault_settings(), data_dir=data_dir) as service:
        assert service.call(call_id("killed-done"))["outcome"] == "abandoned"
        redis_servers = [p for p in processes_mentioning(data_dir) if "redis" in p.name()]
        assert len(redis_servers) == 1, redis_servers


# --- 6, 7. invalid flows at start and on reload ------------------------------------------

BROKEN_FLOW = """\
version: 1
start: menu
nodes:
  menu:
    type: menu
    prompt: "Press one."
    options: {"1": nowhere}
"""


def flow_version(tag: str) -> str:
    """A valid flow whose first node is named ``tag`` (so a record shows which version ran)."""
    return f"""\
version: 1
start: {tag}
nodes:
  {tag}:
    type: say
    say: "Version {tag}."
    on: {{done: hold}}
  hold:
    type: queue
    queue: faults
"""


def test_invalid_flow_at_start_refuses_to_start(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "line.yaml").write_text(BROKEN_FLOW)
    rtp_base = unusual_rtp_base()
    settings = fault_settings(
        flows_dir=str(flows), numbers={MENU: "line.yaml"}, media={"rtp_port_start": rtp_base}
    )
    result, took = serve_until_exit(tmp_path, settings, [])
    assert result.returncode == 1, result
    assert took < 20
    assert f"{flows / 'line.yaml'}:7: " in result.stderr, result.stderr
    assert "unknown target 'nowhere'" in result.stderr
    assert not workers_started_with_rtp_base(rtp_base)
    # The embedded Redis it had started is stopped too.
    assert not processes_mentioning(tmp_path)


def test_reload_keeps_last_good_flow(tmp_path: Path, callers: Callers) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    line = flows / "line.yaml"
    line.write_text(flow_version("v1"))
    settings = fault_settings(flows_dir=str(flows), numbers={MENU: "line.yaml"})

    def first_node(service: Service, name: str) -> str:
        finished(callers.new(service, name, scenario("uac_call"), MENU, duration_ms=1200).run())
        return node_names(service.wait_call(call_id(name), is_ended))[0]

    with serve(tmp_path, settings=settings) as service:
        assert first_node(service, "reload-1") == "v1"

        line.write_text(BROKEN_FLOW)
        status, body = service.api("/api/flows/reload", method="POST")
        assert status == 422, body
        assert body["reloaded"] is False
        assert any(p.startswith(f"{line}:7: ") for p in body["problems"]), body
        assert "keeping the last good version" in service.log()
        assert first_node(service, "reload-2") == "v1"  # still served

        line.write_text(flow_version("v2"))
        status, body = service.api("/api/flows/reload", method="POST")
        assert (status, body) == (200, {"reloaded": True, "problems": []})
        assert first_node(service, "reload-3") == "v2"

        reloads = service.log().count("flows reloaded")
        line.write_text(flow_version("v3"))
        service.process.send_signal(signal.SIGHUP)
        wait_for("the SIGHUP reload", lambda: service.log().count("flows reloaded") > reloads)
        assert first_node(service, "reload-4") == "v3"
        assert health(service)[0] == 200


# --- 8. unknown number, malformed SIP ------------------------------------------------------


def raw_request(port: int, build: Callable[[int], str], timeout: float = 2.0) -> str | None:
    """Send one UDP datagram from a fresh socket; the first answer, or None if none came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(build(sock.getsockname()[1]).encode(), ("127.0.0.1", port))
        try:
            return sock.recv(65535).decode(errors="replace")
        except TimeoutError:
            return None


def invite_text(
    sip_port: int, *, cseq: str = "1 INVITE", max_forwards: str = "70"
) -> Callable[[int], str]:
    def build(local_port: int) -> str:
        lines = [
            f"INVITE sip:{MENU}@127.0.0.1:{sip_port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{uuid.uuid4().hex};rport",
            f"From: <sip:raw@127.0.0.1:{local_port}>;tag=raw{uuid.uuid4().hex[:8]}",
            f"To: <sip:{MENU}@127.0.0.1:{sip_port}>",
            f"Call-ID: raw-{uuid.uuid4().hex}@127.0.0.1",
            f"CSeq: {cseq}",
            f"Max-Forwards: {max_forwards}",
            f"Contact: <sip:raw@127.0.0.1:{local_port}>",
            "Content-Length: 0",
            "",
            "",
        ]
        return "\r\n".join(lines)

    return build


@pytest.fixture(scope="module")
def plain_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service shared by the cheap tests that leave it as they found it."""
    with serve(tmp_path_factory.mktemp("plain"), settings=fault_settings()) as service:
        yield service


def test_unknown_number_gets_404(plain_service: Service, callers: Callers) -> None:
    run = callers.new(plain_service, "unknown-number", scenario("uac_rejected"), "999")
    log = finished(run.run()).message_log()
    assert "SIP/2.0 404 Not Found" in log, log
    status, body = plain_service.api(f"/api/calls/{call_id('unknown-number')}")
    assert status == 404 and body["error_id"] == "call-not-found"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"cseq": "one INVITE"}, "CSeq"),
        ({"cseq": "1 BYE"}, "CSeq method"),
        ({"max_forwards": "lots"}, "Max-Forwards"),
    ],
    ids=["cseq-not-a-number", "cseq-method-mismatch", "max-forwards-not-a-number"],
)
def test_malformed_sip_gets_400_and_service_carries_on(
    plain_service: Service, callers: Callers, fault: dict[str, str], expected: str
) -> None:
    port = plain_service.sip_port
    answer = raw_request(port, invite_text(port, **fault))
    assert answer is not None, "no answer to a malformed INVITE"
    status_line = answer.splitlines()[0]
    assert status_line.startswith("SIP/2.0 400 Bad Request ("), answer
    assert expected in status_line, status_line
    # Bytes that are not SIP at all are dropped without an answer.
    assert raw_request(port, lambda _: "\x00\xffjunk\r\n\r\n", timeout=0.5) is None
    # The service is alive and well: a real call goes through.
    name = f"after-{fault_name(fault)}"
    finished(callers.new(plain_service, name, scenario("uac_call"), duration_ms=500).run())
    plain_service.wait_call(call_id(name), is_ended)
    status, body = health(plain_service)
    assert status == 200 and body["sip"]["parse_errors"] >= 1, body


def fault_name(fault: dict[str, str]) -> str:
    return "-".join(f"{k}-{v}".replace(" ", "") for k, v in fault.items())


# --- 10. API auth ------------------------------------------------------------------------


def test_api_errors_are_documented_json(plain_service: Service) -> None:
    api = plain_service.api
    status, body = api("/api/calls", token=None)
    assert (status, body["error_id"], body["status"]) == (401, "unauthorized", 401), body
    status, body = api("/api/calls", token="not-a-token-of-ours-0123")
    assert (status, body["error_id"]) == (401, "unauthorized"), body
    status, body = api("/api/calls", token=AGENT_TOKEN)
    assert (status, body["error_id"]) == (403, "forbidden"), body
    status, body = api("/api/flows/reload", token=SUPERVISOR_TOKEN, method="POST")
    assert (status, body["error_id"]) == (403, "forbidden"), body
    status, body = api("/api/calls/no-such-call@nowhere", token=SUPERVISOR_TOKEN)
    assert (status, body["error_id"]) == (404, "call-not-found"), body
    status, body = api("/api/calls?limit=abc", token=SUPERVISOR_TOKEN)
    assert (status, body["error_id"]) == (400, "bad-request"), body
    assert "limit" in body["message"]
    status, body = api("/api/calls?limit=0", token=SUPERVISOR_TOKEN)
    assert (status, body["error_id"]) == (400, "bad-request"), body
    status, body = api("/api/calls", token=SUPERVISOR_TOKEN)
    assert status == 200 and isinstance(body["calls"], list), body


# --- 9. flood from one source --------------------------------------------------------------


def test_flood_from_one_source_is_limited_others_served(tmp_path: Path, callers: Callers) -> None:
    settings = fault_settings(sip={"invites_per_second": 2, "invite_burst": 4})
    with serve(tmp_path, settings=settings) as service:
        flood = callers.new(
            service,
            "flood",
            scenario("uac_call"),
            MENU,
            local_ip="127.0.0.2",
            duration_ms=300,
            calls=150,
            rate=50,
            max_concurrent=150,
            timeout_s=20,
            recv_timeout_ms=2000,
        )
        flood.start()
        time.sleep(0.7)  # the flood is under way (and already limited)
        single = callers.new(service, "flood-single", scenario("uac_call"), MENU, duration_ms=800)
        finished(single.run())
        assert flood.process is not None and flood.process.poll() is None, "flood ended early"
        record = service.wait_call(call_id("flood-single"), is_ended)
        assert record["outcome"] == "abandoned", record

        result = flood.wait(timeout=40)
        assert result.successful_calls + result.failed_calls == 150, result.describe()
        # 4 at once, then 2/s over ~3 s: a handful get through, the rest are refused.
        assert result.successful_calls <= 25, result.describe()
        assert result.failed_calls >= 125, result.describe()
        assert "503" in result.message_log()
        status, body = health(service)
        assert status == 200, body
        sip = body["sip"]
        assert sip["rate_limited"] > 0 or sip["rejects"], sip
