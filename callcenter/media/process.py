"""The controller's view of one media worker process (a Twisted ProcessProtocol).

It frames the worker's event pipe (fd 4) into validated event dicts, writes command lines to the
command pipe (fd 3), turns the worker's stdout/stderr into log records and reports readiness and
exit. It keeps no accounting of its own beyond the calls reserved on it: that is the pool's job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from callcenter.media import protocol

log = logging.getLogger(__name__)

COMMAND_FD = 3
EVENT_FD = 4
CHILD_FDS: dict[int, int | str] = {0: "w", 1: "r", 2: "r", COMMAND_FD: "w", EVENT_FD: "r"}
MAX_LINE = 1 << 20

Address = tuple[str, int]


class ChildProcess(Protocol):
    """The part of Twisted's IProcessTransport we use (typed: zope interfaces are not)."""

    pid: int | None

    def writeToChild(self, childFD: int, data: bytes) -> None: ...  # noqa: N802, N803

    def closeChildFD(self, descriptor: int) -> None: ...  # noqa: N802

    def signalProcess(self, signalID: str | int) -> None: ...  # noqa: N802, N803


class WorkerState(Enum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"  # we asked it to exit (retire or pool stop)
    GONE = "gone"


class WorkerStartError(Exception):
    """A worker exited or timed out before it reported ``ready``."""


class WorkerProcess(ProcessProtocol):
    """One spawned worker. ``index`` selects its RTP port range; ``calls`` are reservations."""

    def __init__(
        self,
        index: int,
        on_event: Callable[[WorkerProcess, dict[str, Any]], None],
        on_exit: Callable[[WorkerProcess, Failure], None],
    ) -> None:
        self.index = index
        self.state = WorkerState.STARTING
        self.sip_port = 0
        self.tap_port = 0  # its audio tap socket on loopback (supervisors' monitor sessions)
        self.pid = 0
        self.calls: set[str] = set()
        self.idle_since: float | None = None
        self.exit_code: int | None = None
        self.exit_requested = False  # set by shutdown/kill from our side: not a crash
        self.was_ready = False
        self._on_event = on_event
        self._on_exit = on_exit
        self._buffers: dict[int, bytes] = {}
        self._ready_waiters: list[Deferred[Address]] = []
        self._end_waiters: list[Deferred[None]] = []
        self._process: ChildProcess | None = None

    @property
    def address(self) -> Address:
        return ("127.0.0.1", self.sip_port)

    def __repr__(self) -> str:
        return f"<worker #{self.index} pid={self.pid} {self.state.value} calls={len(self.calls)}>"

    # -- waiting ---------------------------------------------------------------------------

    def when_ready(self) -> Deferred[Address]:
        """Fires with the SIP address once the worker is ready; fails if it never gets there."""
        if self.state is WorkerState.READY:
            return succeed(self.address)
        if self.state is not WorkerState.STARTING:
            return fail(WorkerStartError(f"worker #{self.index} is {self.state.value}"))
        d: Deferred[Address] = Deferred()
        self._ready_waiters.append(d)
        return d

    def when_ended(self) -> Deferred[None]:
        if self.state is WorkerState.GONE:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._end_waiters.append(d)
        return d

    # -- control ---------------------------------------------------------------------------

    def send(self, command: protocol.Command) -> None:
        if self._process is None or self.state is WorkerState.GONE:
            raise WorkerStartError(f"worker #{self.index} is not running")
        self._process.writeToChild(COMMAND_FD, protocol.encode(command))

    def shutdown(self) -> None:
        """Ask the worker to hang up its calls and exit."""
        self.exit_requested = True
        if self.state in (WorkerState.STARTING, WorkerState.READY):
            self.state = WorkerState.STOPPING
            self.send(protocol.Shutdown())
            self._fail_ready(WorkerStartError(f"worker #{self.index} is shutting down"))

    def kill(self) -> None:
        if self._process is not None and self.state is not WorkerState.GONE:
            with contextlib.suppress(ProcessExitedAlready):
                self._process.signalProcess("KILL")

    # -- ProcessProtocol -------------------------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
        self._process = cast(ChildProcess, self.transport)
        self.pid = int(getattr(self._process, "pid", 0) or 0)
        self._process.closeChildFD(0)  # the worker reads no stdin

    def childDataReceived(self, childFD: int, data: bytes) -> None:  # noqa: N802, N803
        buffer = self._buffers.get(childFD, b"") + data
        *lines, rest = buffer.split(b"\n")
        if len(rest) > MAX_LINE:
            log.error("worker #%d: fd %d line too long, dropped", self.index, childFD)
            rest = b""
        self._buffers[childFD] = rest
        for line in lines:
            if childFD == EVENT_FD:
                self._event_line(line)
            elif line.strip():
                text = line.decode(errors="replace")
                log.log(_worker_line_level(text), "worker #%d: %s", self.index, text)

    def _event_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise protocol.ProtocolError("not an object")
            event = protocol.event_from_dict(obj)
        except (ValueError, protocol.ProtocolError) as exc:
            log.warning("worker #%d: bad event line %r: %s", self.index, line[:200], exc)
            return
        if isinstance(event, protocol.Ready):
            self.sip_port = event.sip_port
            self.tap_port = event.tap_port
            self.pid = event.pid
            if self.state is WorkerState.STARTING:
                self.state = WorkerState.READY
                self.was_ready = True
                waiters, self._ready_waiters = self._ready_waiters, []
                for d in waiters:
                    d.callback(self.address)
        self._on_event(self, obj)

    def processEnded(self, reason: Failure) -> None:  # noqa: N802
        value = reason.value
        self.exit_code = getattr(value, "exitCode", None)
        was = self.state
        self.state = WorkerState.GONE
        if was is not WorkerState.STOPPING or not isinstance(value, ProcessDone):
            log.warning("worker #%d (pid %d) ended: %s", self.index, self.pid, value)
        self._fail_ready(WorkerStartError(f"worker #{self.index} exited: {value}"))
        self._on_exit(self, reason)
        waiters, self._end_waiters = self._end_waiters, []
        for d in waiters:
            d.callback(None)

    def _fail_ready(self, error: Exception) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.errback(error)


_WORKER_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _worker_line_level(text: str) -> int:
    """The level of a worker's own log record; raw pjlib output (start-up chatter) is DEBUG."""
    match = _WORKER_RECORD.match(text)
    level = logging.getLevelNamesMapping().get(match.group(1)) if match else None
    return logging.DEBUG if level is None else level
