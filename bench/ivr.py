"""IVR load benchmark: sipp callers against the real service, figures printed as a table.

Two measurements, each on a fresh service:
- **concurrency**: N callers held for ``--hold`` seconds at once (they press 1 by INFO and wait
  in the queue on hold music); the largest N of the ramp with zero failed calls is reported.
- **rate**: calls per second of 2 s calls (answer, 1 by INFO after 1 s, 1 s on hold, BYE) for
  ``--rate-seconds``; the largest rate of the ramp with zero failed calls is reported.
Both report INVITE→200 OK latency (p50/p99, from sipp's rtd trace) and the CPU and memory of
the controller and of all media workers (sampled with psutil).
"""

from __future__ import annotations

import csv
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.support.service import Service, running_service

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "ivr_call.xml"
DID = "bench"


@dataclass
class ResourceSamples:
    controller_cpu: list[float] = field(default_factory=list)  # % of one core
    workers_cpu: list[float] = field(default_factory=list)
    controller_rss: list[int] = field(default_factory=list)
    workers_rss: list[int] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)


class ResourceSampler(threading.Thread):
    """Samples CPU and RSS of the controller and its worker children once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.controller = psutil.Process(pid)
        self.samples = ResourceSamples()
        self._stop_event = threading.Event()
        self._seen: dict[int, psutil.Process] = {}

    def run(self) -> None:
        self.controller.cpu_percent()
        while not self._stop_event.wait(1.0):
            try:
                self._sample()
            except psutil.Error:
                continue

    def _sample(self) -> None:
        workers = [
            p
            for p in self.controller.children(recursive=True)
            if "media.worker" in " ".join(p.cmdline())
        ]
        cpu = 0.0
        rss = 0
        for process in workers:
            known = self._seen.setdefault(process.pid, process)
            try:
                cpu += known.cpu_percent()
                rss += known.memory_info().rss
            except psutil.Error:
                continue
        self.samples.controller_cpu.append(self.controller.cpu_percent())
        self.samples.controller_rss.append(self.controller.memory_info().rss)
        self.samples.workers_cpu.append(cpu)
        self.samples.workers_rss.append(rss)
        self.samples.workers.append(len(workers))

    def stop(self) -> ResourceSamples:
        self._stop_event.set()
        self.join(5)
        return self.samples


@dataclass
class SippRun:
    total: int
    successful: int
    failed: int
    latencies_ms: list[float]
    samples: ResourceSamples
    seconds: float

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_sipp(
    service: Service, work: Path, calls: int, rate: float, hold_ms: int, limit: int
) -> SippRun:
    work.mkdir(parents=True, exist_ok=True)
    stat_file = work / "stats.csv"
    command = [
        "sipp", service.sip_uri_host, "-sf", str(SCENARIO), "-s", DID,
        "-i", "127.0.0.1", "-p", "0", "-m", str(calls), "-r", str(rate), "-l", str(limit),
        "-d", str(hold_ms), "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", str(stat_file),
        "-fd", "1", "-timeout", str(int(calls / rate + hold_ms / 1000 + 60)), "-timeout_error",
        "-recv_timeout", "20000", "-max_socket", "10000",
    ]  # fmt: skip
    sampler = ResourceSampler(service.process.pid)
    sampler.start()
    started = time.monotonic()
    subprocess.run(
        command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    seconds = time.monotonic() - started
    samples = sampler.stop()
    successful, failed = _final_counts(stat_file)
    return SippRun(calls, successful, failed, _latencies(work), samples, seconds)


def _final_counts(stat_file: Path) -> tuple[int, int]:
    rows = list(csv.reader(stat_file.open(), delimiter=";")) if stat_file.exists() else []
    if len(rows) < 2:
        return 0, 0
    header, last = rows[0], rows[-1]
    value = dict(zip(header, last, strict=False))
    return int(value.get("SuccessfulCall(C)", 0)), int(value.get("FailedCall(C)", 0))


def _latencies(work: Path) -> list[float]:
    values: list[float] = []
    for path in work.glob("*_rtt.csv"):
        for row in csv.reader(path.open(), delimiter=";"):
            if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                values.append(float(row[1]))
    return values


def bench_settings(max_workers: int, min_workers: int) -> dict[str, Any]:
    """Rate limits opened (sipp is one source); the pool pre-started for the expected peak."""
    return {
        "flows_dir": str(HERE / "flows"),
        "numbers": {DID: "bench.yaml"},
        "sip": {
            "invites_per_second": 10000,
            "invite_burst": 10000,
            "requests_per_second": 100000,
            "request_burst": 100000,
        },
        "media": {
            "max_workers": max_workers,
            "min_workers": min_workers,
            "spare_workers": 2,
            "idle_retire_seconds": 600,
        },
    }


def describe(label: str, run: SippRun) -> list[str]:
    s = run.samples
    mb = 1024 * 1024
    p50, p99 = run.percentile(0.5), run.percentile(0.99)
    return [
        f"{label}: {run.successful}/{run.total} calls succeeded, {run.failed} failed, "
        f"{run.seconds:.0f} s",
        f"  INVITE->200 OK latency: p50 {p50 if p50 is None else round(p50, 1)} ms, "
        f"p99 {p99 if p99 is None else round(p99, 1)} ms ({len(run.latencies_ms)} samples)",
        f"  controller CPU: mean {_mean(s.controller_cpu):.0f}% "
        f"max {_max(s.controller_cpu):.0f}% of a core; "
        f"RSS max {_max(s.controller_rss) / mb:.0f} MB",
        f"  workers: up to {_max(s.workers):.0f}; CPU mean {_mean(s.workers_cpu):.0f}% "
        f"max {_max(s.workers_cpu):.0f}% of a core; RSS max {_max(s.workers_rss) / mb:.0f} MB",
    ]


def _mean(values: list[Any]) -> float:
    return statistics.fmean(values) if values else 0.0


def _max(values: list[Any]) -> float:
    return float(max(values)) if values else 0.0


def concurrency(levels: list[int], hold_s: int, ramp_rate: float) -> list[str]:
    lines = []
    best = 0
    for level in levels:
        with (
            tempfile.TemporaryDirectory() as tmp,
            running_service(
                Path(tmp),
                settings=bench_settings(max_workers=level // 2 + 8, min_workers=level // 2),
            ) as service,
        ):
            run = run_sipp(service, Path(tmp) / "sipp", level, ramp_rate, hold_s * 1000, level)
            lines += describe(f"concurrency {level} held {hold_s}s", run)
            if run.failed or run.successful < level:
                break
            best = level
    lines.append(f"=> concurrent IVR calls held {hold_s}s with zero failures: {best}")
    return lines


def rate(levels: list[float], seconds: int) -> list[str]:
    lines = []
    best = 0.0
    for cps in levels:
        calls = int(cps * seconds)
        limit = int(cps * 4) + 10
        with (
            tempfile.TemporaryDirectory() as tmp,
            running_service(
                Path(tmp),
                settings=bench_settings(
                    max_workers=limit // 2 + 8, min_workers=int(cps * 2.5) // 2 + 2
                ),
            ) as service,
        ):
            run = run_sipp(service, Path(tmp) / "sipp", calls, cps, 1000, limit)
            lines += describe(f"rate {cps:g} calls/s for {seconds}s", run)
            if run.failed or run.successful < calls:
                break
            best = cps
    lines.append(f"=> sustained calls/s with zero failures: {best:g}")
    return lines
