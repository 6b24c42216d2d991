"""The pool with real worker processes: growth, crashes, shutdown, and what an idle worker costs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest_twisted
from twisted.internet import task

from tests.integration.media.conftest import (
    Controller,
    Event,
    SippCall,
    pool_settings,
    the_reactor,
    worker_processes,
)


def play(prompt: Path, hang_up_after: bool = True) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="play", files=[str(prompt)], token="p")
        elif event["ev"] == "play_done" and hang_up_after:
            ctl.send(event["call"], cmd="hangup")

    return script


def sleep(seconds: float) -> Any:
    return task.deferLater(the_reactor(), seconds, lambda: None)  # type: ignore[arg-type]


@pytest_twisted.inlineCallbacks
def test_fifth_call_on_a_four_call_worker_goes_to_a_new_worker(prompt: Path, tmp_path: Path) -> Any:
    settings = pool_settings(spare_workers=0, calls_per_worker=4, slots_per_call=1)
    ctl = Controller(settings, on=play(prompt))
    calls: list[SippCall] = []
    try:
        yield ctl.pool.start()
        assert ctl.pool.stats().workers == 0
        addresses = []
        for n in range(5):
            addresses.append((yield ctl.pool.reserve(f"cap{n}-1")))
        assert len(set(addresses[:4])) == 1 and addresses[4] != addresses[0]
        assert ctl.pool.stats().workers == 2
        calls = [SippCall(addresses[n], f"cap{n}", tmp_path) for n in range(5)]
        codes = []
        for call in calls:
            codes.append((yield call.wait()))
        assert codes == [0] * 5, [c.error_text() for c in calls]
        answered = {e["call"] for e in ctl.of("answered")}
        assert answered == {f"cap{n}-1" for n in range(5)}
        assert ctl.pool.stats().calls == 0
    finally:
        for call in calls:
            call.kill()
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_sigkill_reports_that_workers_calls_lost_and_others_carry_on(
    prompt: Path, tmp_path: Path
) -> Any:
    settings = pool_settings(spare_workers=1, max_workers=4)
    ctl = Controller(settings, on=play(prompt, hang_up_after=False))
    calls: list[SippCall] = []
    try:
        yield ctl.pool.start()
        ids = ["kill0-1", "kill1-1", "keep2-1"]
        addresses = []
        for call_id in ids:
            addresses.append((yield ctl.pool.reserve(call_id)))
        assert addresses[0] == addresses[1] != addresses[2]
        calls = [
            SippCall(a, i.removesuffix("-1"), tmp_path) for a, i in zip(addresses, ids, strict=True)
        ]
        for call_id in ids:
            yield ctl.wait_event("answered", call_id)
        victim = next(w for w in ctl.pool.workers() if "kill0-1" in w.calls)
        os.kill(victim.pid, signal.SIGKILL)
        for _ in range(50):
            if ctl.lost:
                break
            yield sleep(0.1)
        assert sorted(ctl.lost) == ["kill0-1", "kill1-1"]
        stats = ctl.pool.stats()
        assert stats.crashed == 1
        assert ctl.pool.worker_address("keep2-1") == addresses[2]
        # the survivor's call is still up and obeys commands: hang it up, sipp sees the BYE
        ctl.send("keep2-1", cmd="hangup")
        code = yield calls[2].wait()
        assert code == 0, calls[2].error_text()
        yield ctl.wait_event("hangup", "keep2-1")
        # spare capacity was restored after the crash
        for _ in range(50):
            if ctl.pool.stats().ready >= 2:
                break
            yield sleep(0.1)
        assert ctl.pool.stats().free_slots >= settings.calls_per_worker
    finally:
        for call in calls:
            call.kill()
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_stop_hangs_up_and_leaves_no_process_behind(prompt: Path, tmp_path: Path) -> Any:
    ctl = Controller(pool_settings(spare_workers=2), on=play(prompt, hang_up_after=False))
    sipp = None
    try:
        yield ctl.pool.start()
        address = yield ctl.pool.reserve("stop-1")
        sipp = SippCall(address, "stop", tmp_path)
        yield ctl.wait_event("answered", "stop-1")
        pids = [w.pid for w in ctl.pool.workers()]
        assert len(pids) == 3 and len(worker_processes()) == 3
    finally:
        started = time.monotonic()
        yield ctl.pool.stop()
        elapsed = time.monotonic() - started
    assert elapsed < 5.0, "workers exit on shutdown, not on the kill timer"
    assert all(
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie" for pid in pids
    )
    assert worker_processes() == []
    assert ctl.lost == []
    assert ctl.of("hangup", "stop-1")[0]["by"] == "local"
    assert sipp is not None
    code = yield sipp.wait()
    assert code == 0, "the caller got a BYE: " + sipp.error_text()


@pytest_twisted.inlineCallbacks
def test_idle_worker_cost(record_property: Any) -> Any:
    """Measures start-up time, idle CPU and RSS of one worker (reported, loosely bounded)."""
    ctl = Controller(pool_settings(spare_workers=1))
    try:
        started = time.monotonic()
        yield ctl.pool.start()
        startup = time.monotonic() - started
        (worker,) = ctl.pool.workers()
        proc = psutil.Process(worker.pid)
        yield sleep(1.0)
        before = proc.cpu_times()
        t0 = time.monotonic()
        yield sleep(10.0)
        after = proc.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) / (time.monotonic() - t0)
        rss_mb = proc.memory_info().rss / 2**20
        threads_count = proc.num_threads()
        record_property("startup_seconds", round(startup, 3))
        record_property("idle_cpu_percent", round(cpu * 100, 2))
        record_property("rss_mb", round(rss_mb, 1))
        print(
            f"\nworker start-up {startup:.3f}s, idle CPU {cpu * 100:.2f}% of a core, "
            f"RSS {rss_mb:.1f} MB, {threads_count} threads"
        )
        assert startup < 5.0
        assert cpu < 0.03
        assert rss_mb < 200
    finally:
        yield ctl.pool.stop()
