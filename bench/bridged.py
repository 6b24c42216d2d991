"""Bridged-call benchmark: caller↔agent conversations held at once, on the real service.

For each level N, on a fresh service: N agents in config (queue ``support``, ring timeout 10 s,
wrap-up 1 s), N simulated softphones registered by :mod:`bench.agent_sim` (one process, digest
auth) and logged in through the API, then N sipp callers (``bench/scenarios/ivr_call.xml``:
answer, press 1 by INFO, hold, BYE). Each caller is queued, matched to an agent, the worker
dials the agent through the front, the simulator answers and the worker bridges the two legs.

Measured: conversations held at once (peak count of call records with an agent and no end,
polled from ``GET /api/calls`` each second), sipp successes/failures, calls answered by an
agent, queue wait (record ``wait``: queue entry → agent connected) p50/p99, and CPU/RSS of the
controller, of the media workers and of the agent simulator. The ramp stops at the first level
with a failure; the largest N whose every call was bridged and held at once is reported.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.ivr import SippRun, _max, _mean, bench_settings, describe, run_sipp
from tests.support.service import Service, running_service

REPO = Path(__file__).resolve().parents[1]
QUEUE = "support"
PASSWORD = "bench-agent-pass"


def bridged_settings(agents: list[str], workers: int) -> dict[str, Any]:
    settings = bench_settings(max_workers=workers + 8, min_workers=workers)
    settings["queues"] = {QUEUE: {"ring_timeout_seconds": 10, "wrap_up_seconds": 1}}
    settings["agents"] = [
        {"id": agent, "name": agent, "password": PASSWORD, "queues": [QUEUE]} for agent in agents
    ]
    return settings


def agent_ids(count: int) -> list[str]:
    return [f"agent{n:03d}" for n in range(1, count + 1)]


@dataclass
class HeldSamples:
    held: list[int] = field(default_factory=list)  # calls with an agent and no end, per poll
    queued: list[int] = field(default_factory=list)
    poll_errors: int = 0


class HeldSampler(threading.Thread):
    """Polls ``GET /api/calls`` once a second: how many conversations are up right now."""

    def __init__(self, service: Service, limit: int) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.limit = min(1000, limit)
        self.samples = HeldSamples()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            try:
                status, body = self.service.api(f"/api/calls?limit={self.limit}")
            except OSError:
                self.samples.poll_errors += 1
                continue
            if status != 200:
                self.samples.poll_errors += 1
                continue
            live = [c for c in body["calls"] if c.get("ended_at") is None]
            self.samples.held.append(sum(1 for c in live if c.get("agent")))
            self.samples.queued.append(sum(1 for c in live if c.get("outcome") == "queued"))

    def stop(self) -> HeldSamples:
        self._stop_event.set()
        self.join(15)
        return self.samples


class ProcessSampler(threading.Thread):
    """CPU and RSS of one process (the agent simulator) once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.cpu: list[float] = []
        self.rss: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        self.process.cpu_percent()
        while not self._stop_event.wait(1.0):
            try:
                self.cpu.append(self.process.cpu_percent())
                self.rss.append(self.process.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


@dataclass
class RecordingCount:
    """Conversation recordings on disk after a level: written, sidecar sha256 right, wrong."""

    written: int = 0
    verified: int = 0
    mismatched: int = 0


def count_recordings(directory: Path) -> RecordingCount:
    count = RecordingCount()
    for sidecar in directory.rglob("*.json"):
        if sidecar.name.endswith(".ivr.json"):
            continue
        facts = json.loads(sidecar.read_text())
        wav = sidecar.with_suffix(".wav")
        if not wav.exists():
            count.mismatched += 1
            continue
        count.written += 1
        if hashlib.sha256(wav.read_bytes()).hexdigest() == facts.get("sha256"):
            count.verified += 1
        else:
            count.mismatched += 1
    return count


def wait_recordings(directory: Path, expected: int, timeout: float = 60.0) -> RecordingCount:
    """Recordings are finished after the call ends (interleaved off the reactor): wait for them."""
    deadline = time.monotonic() + timeout
    count = count_recordings(directory)
    while count.written < expected and time.monotonic() < deadline:
        time.sleep(1.0)
        count = count_recordings(directory)
    return count


class AgentSimProcess:
    """``python -m bench.agent_sim`` as a child: started, waited for ready, stopped for stats."""

    def __init__(self, service: Service, agents: int, answer_after: float, rtp: str) -> None:
        command = [
            sys.executable, "-m", "bench.agent_sim", "--registrar", service.sip_uri_host,
            "--agents", str(agents), "--password", PASSWORD,
            "--answer-after", str(answer_after), "--rtp", rtp,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.ready: dict[str, Any] = {}

    def wait_ready(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"agent simulator exited early ({self.process.wait()})")
        event = json.loads(line)
        if event.get("event") != "ready":
            raise RuntimeError(f"agent simulator not ready: {event}")
        self.ready = event
        return dict(event)

    def stop(self) -> dict[str, Any]:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        for line in reversed(out.splitlines()):
            event = json.loads(line)
            if event.get("event") == "stats":
                return dict(event)
        return {}


def log_in_all(service: Service, agents: list[str]) -> None:
    for agent in agents:
        status, body = service.api(f"/api/agents/{agent}/login", method="POST", body={})
        if status != 200:
            raise RuntimeError(f"login of {agent} failed: {status} {body}")
    status, body = service.api("/api/agents")
    not_ready = [
        a["id"] for a in body["agents"] if not a["registered"] or a["status"] != "available"
    ]
    if not_ready:
        raise RuntimeError(f"agents not registered and available: {not_ready[:10]}")


def call_records(service: Service, limit: int) -> list[dict[str, Any]]:
    status, body = service.api(f"/api/calls?limit={min(1000, limit)}")
    return list(body["calls"]) if status == 200 else []


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Level:
    calls: int
    run: SippRun
    held: HeldSamples
    records: list[dict[str, Any]]
    sim: dict[str, Any]
    sim_cpu: list[float]
    sim_rss: list[int]
    register_seconds: float
    recordings: RecordingCount

    @property
    def peak_held(self) -> int:
        return max(self.held.held, default=0)

    @property
    def answered(self) -> int:
        return sum(1 for r in self.records if r.get("agent"))

    @property
    def waits(self) -> list[float]:
        return [float(r["wait"]) for r in self.records if r.get("agent") and r.get("wait")]

    @property
    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[str(record.get("outcome"))] = counts.get(str(record.get("outcome")), 0) + 1
        return counts

    @property
    def clean(self) -> bool:
        return (
            self.run.failed == 0
            and self.run.successful == self.calls
            and self.answered == self.calls
            and self.peak_held >= self.calls
            and not self.sim.get("double_booked")
            and self.recordings.verified == self.calls
        )


def run_level(
    level: int, hold_s: int, rate: float, answer_after: float, rtp: str, tmp: Path
) -> Level:
    agents = agent_ids(level)
    workers = (level + 1) // 2 + 1  # a caller reserves 2 of a worker's 4 slots
    with running_service(tmp, settings=bridged_settings(agents, workers)) as service:
        sim = AgentSimProcess(service, level, answer_after, rtp)
        try:
            started = time.monotonic()
            sim.wait_ready()
            register_seconds = time.monotonic() - started
            log_in_all(service, agents)
            held = HeldSampler(service, level + 50)
            sim_sampler = ProcessSampler(sim.process.pid)
            held.start()
            sim_sampler.start()
            run = run_sipp(service, tmp / "sipp", level, rate, hold_s * 1000, level)
            time.sleep(2)  # let the last BYEs reach the records
            samples = held.stop()
            sim_sampler.stop()
            records = call_records(service, level + 50)
            recordings = wait_recordings(tmp / "recordings", level)
        finally:
            stats = sim.stop()
    return Level(
        level,
        run,
        samples,
        records,
        stats,
        sim_sampler.cpu,
        sim_sampler.rss,
        register_seconds,
        recordings,
    )


def describe_level(level: Level, hold_s: int) -> list[str]:
    mb = 1024 * 1024
    p50, p99 = percentile(level.waits, 0.5), percentile(level.waits, 0.99)
    sim = level.sim
    lines = describe(f"bridged {level.calls} callers/agents, held {hold_s}s", level.run)
    lines += [
        f"  conversations held at once: peak {level.peak_held} "
        f"(queued at once: peak {max(level.held.queued, default=0)}; "
        f"{len(level.held.held)} polls, {level.held.poll_errors} poll errors)",
        f"  answered by an agent: {level.answered}/{level.calls}; outcomes {level.outcomes}",
        f"  queue wait (entry -> agent connected): p50 {_round(p50)} s, p99 {_round(p99)} s",
        f"  stereo recordings: {level.recordings.written} written, "
        f"{level.recordings.verified} with a matching sidecar sha256, "
        f"{level.recordings.mismatched} missing or mismatched",
        f"  agent simulator: {level.calls} registered in {level.register_seconds:.1f} s; "
        f"INVITEs {sim.get('invites')}, answered {sim.get('answered')}, "
        f"ACKed {sim.get('confirmed')}, at once {sim.get('max_concurrent')}, "
        f"BYEs {sim.get('byes')}, CANCELs {sim.get('cancels')}, "
        f"re-INVITEs {sim.get('reinvites')}, double-booked {sim.get('double_booked')}, "
        f"ACK timeouts {sim.get('ack_timeouts')}; "
        f"RTP sent {sim.get('rtp_sent')} received {sim.get('rtp_received')}",
        f"  agent simulator CPU: mean {_mean(level.sim_cpu):.0f}% "
        f"max {_max(level.sim_cpu):.0f}% of a core; RSS max {_max(level.sim_rss) / mb:.0f} MB",
    ]
    return lines


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def bridged(
    levels: list[int],
    hold_s: int,
    rate: float,
    answer_after: float = 0.5,
    rtp: str = "silence",
    keep: Path | None = None,
) -> Iterator[str]:
    """Run the ramp; lines of figures are yielded as each level finishes.

    ``keep``: each level's service log, config and sipp files stay in ``keep/<level>``.
    """
    best = 0
    for level in levels:
        if keep is not None:
            (keep / str(level)).mkdir(parents=True, exist_ok=True)
            result = run_level(level, hold_s, rate, answer_after, rtp, keep / str(level))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                result = run_level(level, hold_s, rate, answer_after, rtp, Path(tmp))
        yield from describe_level(result, hold_s)
        if not result.clean:
            break
        best = level
    yield f"=> bridged caller-agent conversations held {hold_s}s at once with zero failures: {best}"
