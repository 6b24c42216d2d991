"""Run sipp (Debian ``sip-tester`` 3.6.1) as a subprocess, from any test suite.

``SippRun`` builds the command line for one sipp instance (a caller or a UAS standing in for
a SIP peer), starts it without blocking, and collects the exit code plus the paths of its
message, error and statistics logs. Blocking waits are plain functions; from a Twisted test,
call them through ``threads.deferToThread`` so the reactor (and the code under test) keeps
running.

Every run is bounded: ``-timeout`` (global, with ``-timeout_error``) and ``-recv_timeout``, so
a scenario that gets no answer fails instead of hanging. Scenarios live in ``tests/sipp``.

sipp exit codes: 0 all calls succeeded, 1 at least one failed, 97 stopped by a command,
99 no call processed, 255/254 fatal (e.g. cannot bind).
"""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"


def scenario(name: str) -> Path:
    """``scenario("uac_call")`` → path of ``tests/sipp/uac_call.xml``."""
    path = SCENARIOS / f"{name}.xml"
    if not path.exists():
        raise FileNotFoundError(path)
    return path


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    messages: Path
    errors: Path
    stats: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message_log(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""

    def error_log(self) -> str:
        return self.errors.read_text(errors="replace") if self.errors.exists() else ""

    def counters(self) -> dict[str, str]:
        """The last row of the ``-trace_stat`` CSV (e.g. ``SuccessfulCall(C)``)."""
        if not self.stats.exists():
            return {}
        rows = list(csv.DictReader(self.stats.read_text().splitlines(), delimiter=";"))
        return {k: v for k, v in rows[-1].items() if k} if rows else {}

    @property
    def successful_calls(self) -> int:
        return int(self.counters().get("SuccessfulCall(C)", "0") or 0)

    @property
    def failed_calls(self) -> int:
        return int(self.counters().get("FailedCall(C)", "0") or 0)

    def describe(self) -> str:
        """Everything useful in an assertion message."""
        return (
            f"sipp exit {self.returncode}\nstderr: {self.stderr[-2000:]}\n"
            f"errors: {self.error_log()[-3000:]}\nmessages: {self.message_log()[-6000:]}"
        )


@dataclass
class SippRun:
    """One sipp instance. ``remote`` is None for a UAS that only waits for calls.

    ``transport``: sipp ``-t`` mode: ``"u1"`` UDP one socket, ``"t1"`` TCP one connection,
    ``"un"``/``"tn"`` one socket per call.
    """

    scenario: Path
    workdir: Path
    local: tuple[str, int]
    remote: tuple[str, int] | None = None
    transport: str = "u1"
    calls: int = 1
    rate: float | None = None
    max_concurrent: int | None = None
    service: str = "100"
    duration_ms: int | None = None  # what <pause/> waits (-d)
    timeout_s: float = 20.0  # whole run
    recv_timeout_ms: int = 5000  # one expected message
    media_port: int | None = None
    variables: dict[str, str] = field(default_factory=dict)  # -set name value
    extra_args: list[str] = field(default_factory=list)
    name: str = ""
    process: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"{self.scenario.stem}-{self.local[0]}-{self.local[1]}"
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def messages(self) -> Path:
        return self.workdir / f"{self.name}.messages.log"

    @property
    def errors(self) -> Path:
        return self.workdir / f"{self.name}.errors.log"

    @property
    def stats(self) -> Path:
        return self.workdir / f"{self.name}.stats.csv"

    def command(self) -> list[str]:
        cmd = [SIPP]
        if self.remote is not None:
            cmd.append(f"{self.remote[0]}:{self.remote[1]}")
        cmd += ["-sf", str(self.scenario), "-t", self.transport, "-s", self.service]
        cmd += ["-i", self.local[0], "-p", str(self.local[1]), "-m", str(self.calls)]
        cmd += ["-mi", self.local[0]]
        if self.media_port is not None:
            cmd += ["-mp", str(self.media_port)]
        if self.rate is not None:
            cmd += ["-r", str(self.rate)]
        if self.max_concurrent is not None:
            cmd += ["-l", str(self.max_concurrent)]
        if self.duration_ms is not None:
            cmd += ["-d", str(self.duration_ms)]
        cmd += ["-timeout", f"{self.timeout_s}s", "-timeout_error"]
        cmd += ["-recv_timeout", str(self.recv_timeout_ms)]
        cmd += ["-trace_msg", "-message_file", str(self.messages)]
        cmd += ["-trace_err", "-error_file", str(self.errors)]
        cmd += ["-trace_stat", "-stf", str(self.stats), "-fd", "1"]
        cmd += ["-nostdin", "-skip_rlimit"]
        for name, value in self.variables.items():
            cmd += ["-set", name, value]
        return cmd + self.extra_args

    def start(self) -> SippRun:
        """Start sipp in the background (returns at once)."""
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.workdir,
        )
        return self

    def wait(self, timeout: float | None = None) -> SippResult:
        """Block until sipp exits (killing it after ``timeout``, default its own + 10 s)."""
        assert self.process is not None, "start() first"
        limit = self.timeout_s + 10 if timeout is None else timeout
        try:
            out, err = self.process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return SippResult(self.process.returncode, out, err, self.messages, self.errors, self.stats)

    def run(self) -> SippResult:
        """Start and wait: for a caller run to completion (in a thread under Twisted)."""
        return self.start().wait()

    def stop(self) -> None:
        """Stop sipp if still running (fixtures call this on teardown)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGUSR1)  # sipp: quit after current calls
        try:
            self.process.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()

    def kill(self) -> None:
        """End sipp at once, like a crashed peer."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
