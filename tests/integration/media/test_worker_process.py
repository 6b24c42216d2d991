"""The worker as a plain process: its pipes, its exit paths, and a clean stdout."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class RawWorker:
    process: subprocess.Popen[bytes]
    commands: int  # our end of the worker's fd 3
    events: Any  # file object on our end of fd 4

    def send(self, obj: dict[str, Any]) -> None:
        os.write(self.commands, json.dumps(obj).encode() + b"\n")

    def event(self) -> dict[str, Any]:
        line = self.events.readline()
        assert line, "event pipe closed"
        return dict(json.loads(line))


@pytest.fixture
def worker() -> Iterator[RawWorker]:
    cmd_r, cmd_w = os.pipe()
    ev_r, ev_w = os.pipe()

    def child_fds() -> None:
        os.dup2(cmd_r, 3)
        os.dup2(ev_w, 4)

    process = subprocess.Popen(
        [sys.executable, "-m", "callcenter.media.worker", "--rtp-port-start", "47000"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(3, 4),  # kept after preexec_fn has put the pipes there
        preexec_fn=child_fds,
    )
    os.close(cmd_r)
    os.close(ev_w)
    events = os.fdopen(ev_r, "rb")
    raw = RawWorker(process, cmd_w, events)
    try:
        yield raw
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
        events.close()
        with contextlib.suppress(OSError):
            os.close(cmd_w)


def test_ready_then_stats_errors_and_shutdown_with_nothing_on_stdout(worker: RawWorker) -> None:
    ready = worker.event()
    assert ready["ev"] == "ready" and ready["pid"] == worker.process.pid and ready["sip_port"] > 0
    worker.send({"cmd": "stats"})
    stats = worker.event()
    assert (stats["ev"], stats["calls"], stats["max_calls"]) == ("stats", 0, 4)
    os.write(worker.commands, b'{"cmd":"ring","call":"ghost"}\n{"oops"\n')
    assert worker.event() == {
        "ev": "error",
        "call": "ghost",
        "cmd": "ring",
        "message": "no such call 'ghost'",
    }
    assert worker.event()["ev"] == "error"
    worker.send({"cmd": "shutdown"})
    out, err = worker.process.communicate(timeout=10)
    assert worker.process.returncode == 0
    assert out == b"", "stdout stays clean: pjsua logs go to stderr"
    assert b"stopped" in err


def test_worker_exits_when_the_controller_goes_away(worker: RawWorker) -> None:
    worker.event()
    os.close(worker.commands)  # EOF on fd 3, as when the controller dies
    assert worker.process.wait(timeout=10) == 0


def test_sigterm_is_a_clean_shutdown(worker: RawWorker) -> None:
    worker.event()
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=10) == 0
