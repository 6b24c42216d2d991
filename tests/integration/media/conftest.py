"""Real media workers and real SIP for the media integration tests.

``Controller`` plays the application's part: it owns a :class:`WorkerPool`, records every event,
answers incoming calls and runs a per-test script on events. ``SippCall`` runs one sipp caller.
The ``no_stray_workers`` fixture kills any worker a failed test left behind.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil
import pytest
from twisted.internet import threads
from twisted.internet.defer import Deferred, succeed

from callcenter.media.pool import PoolReactor, PoolSettings, WorkerPool
from callcenter.media.prompts import render_say
from tests.support.ports import free_port

HERE = Path(__file__).parent


def the_reactor() -> PoolReactor:
    """The reactor pytest-twisted installed (imported late: importing it installs one)."""
    from twisted.internet import reactor

    return cast(PoolReactor, reactor)


Event = dict[str, Any]


def pool_settings(**overrides: Any) -> PoolSettings:
    base = random.randrange(20000, 50000, 1000)  # workers retry inside their range anyway
    values: dict[str, Any] = {
        "spare_workers": 1,
        "max_workers": 4,
        "rtp_port_base": base,
        "rtp_ports_per_worker": 40,
        "stop_timeout_seconds": 5.0,
        "idle_retire_seconds": 600.0,
    }
    values.update(overrides)
    return PoolSettings(**values)


@dataclass
class Controller:
    """A stand-in application: answers calls and lets each test script the rest."""

    settings: PoolSettings
    answer: bool = True
    on: Callable[[Controller, Event], None] | None = None
    events: list[Event] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    _waiters: list[tuple[Callable[[Event], bool], Deferred[Event]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pool = WorkerPool(the_reactor(), self.settings, self._event, self.lost.extend)

    def send(self, call: str, **command: Any) -> None:
        self.pool.send(call, {**command, "call": call})

    def _event(self, event: Event) -> None:
        self.events.append(event)
        if self.answer and event["ev"] == "incoming":
            self.send(event["call"], cmd="ring")
            self.send(event["call"], cmd="answer")
        if self.on is not None:
            self.on(self, event)
        for waiter in list(self._waiters):
            predicate, d = waiter
            if predicate(event):
                self._waiters.remove(waiter)
                d.callback(event)

    def of(self, kind: str, call: str | None = None) -> list[Event]:
        return [e for e in self.events if e["ev"] == kind and call in (None, e.get("call"))]

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = 20.0
    ) -> Deferred[Event]:
        for event in self.events:
            if predicate(event):
                return succeed(event)
        d: Deferred[Event] = Deferred()
        entry = (predicate, d)
        self._waiters.append(entry)

        def expire() -> None:
            if entry in self._waiters:
                self._waiters.remove(entry)
                d.errback(TimeoutError(f"no matching event in {timeout}s: {self.events}"))

        timer = the_reactor().callLater(timeout, expire)

        def stop_timer(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            return result

        d.addBoth(stop_timer)
        return d

    def wait_event(
        self, kind: str, call: str | None = None, timeout: float = 20.0
    ) -> Deferred[Event]:
        return self.wait_for(lambda e: e["ev"] == kind and call in (None, e.get("call")), timeout)


class SippCall:
    """One sipp caller process (UDP on loopback) running ``uac_record_route.xml``."""

    def __init__(self, target: tuple[str, int], call_id_prefix: str, tmp: Path) -> None:
        sipp = shutil.which("sipp") or shutil.which("sip-tester")
        assert sipp, "sipp is not installed"
        self.call_id = f"{call_id_prefix}-1"  # sipp's -cid_str with %u = call number 1
        self.process = subprocess.Popen(
            [
                sipp,
                f"{target[0]}:{target[1]}",
                "-sf",
                str(HERE / "uac_record_route.xml"),
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-p",
                str(free_port()),
                "-mp",
                str(free_port()),
                "-cid_str",
                f"{call_id_prefix}-%u",
                "-timeout",
                "40s",
                "-nostdin",
                "-trace_err",
                "-error_file",
                str(tmp / f"{call_id_prefix}-errors.log"),
            ],
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.errors = tmp / f"{call_id_prefix}-errors.log"

    def wait(self, timeout: float = 45.0) -> Deferred[int]:
        return threads.deferToThread(self.process.wait, timeout)

    def error_text(self) -> str:
        return self.errors.read_text(errors="replace") if self.errors.exists() else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def worker_processes() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "callcenter.media.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def no_stray_workers() -> Iterator[None]:
    yield
    for proc in worker_processes():
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)


@pytest.fixture(scope="session")
def prompt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("prompts")
    return render_say("Thank you for calling. Please hold the line.", "en", cache)
