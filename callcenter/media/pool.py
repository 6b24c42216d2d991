"""The controller's pool of media worker processes.

pjsua2 holds at most 4 calls per process here, and a caller's agent leg must live in the same
process as the caller (the bridge is local). So each inbound call reserves ``slots_per_call``
call slots (default 2: caller + agent) on one worker, and the pool grows and shrinks the set of
workers: it spawns on demand, keeps spare capacity so a new call rarely waits for a start-up
(~0.2 s), retires workers that stayed idle, and replaces crashed ones, telling the application
which calls were lost so it can end their dialogs. Calls on other workers are unaffected.

Spare capacity is counted in conversations, not processes: the pool keeps at least
``spare_workers * conversations_per_worker`` free conversation places (in ready or starting
workers). With the defaults (4 calls, 2 slots per call, 1 spare worker) two more callers can
always be placed at once. Placement is best-fit (the fullest worker that still has room), so
load concentrates and idle workers can be retired.

A call that will never get an agent leg (a supervisor's monitor call) may reserve fewer slots
(``reserve(call_id, slots=1)``).

Agent legs ride on their caller's reservation: ``send`` of a ``dial`` whose ``peer`` is a
placed call maps the leg's id to the peer's worker without taking slots (they were reserved
with the caller), so ``send`` and ``worker_address`` work for the leg id. The mapping goes when
the worker reports the leg's ``leg_failed`` or ``hangup``, when the leg is released, or with its
peer (the worker never lets an agent leg outlive the caller it was dialled for).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred, DeferredList, FirstError, fail
from twisted.python.failure import Failure

from callcenter.media import protocol
from callcenter.media.process import (
    CHILD_FDS,
    Address,
    WorkerProcess,
    WorkerStartError,
    WorkerState,
)

log = logging.getLogger(__name__)

__all__ = [
    "NoCapacityError",
    "PoolError",
    "PoolSettings",
    "PoolStats",
    "UnknownCallError",
    "WorkerInfo",
    "WorkerPool",
    "WorkerStartError",
]


class PoolError(Exception):
    """Base of the pool's errors."""


class NoCapacityError(PoolError):
    """All ``max_workers`` workers are full (answer the caller 503 with Retry-After)."""


NoCapacity = NoCapacityError  # the name the design notes use


class UnknownCallError(PoolError, KeyError):
    """``send`` for a call that holds no reservation."""


class Timer(Protocol):
    """The part of IDelayedCall we use (typed: zope interfaces are not)."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class PoolReactor(Protocol):
    """What the pool needs from a reactor (IReactorTime + IReactorProcess), typed."""

    def seconds(self) -> float: ...

    def callLater(  # noqa: N802 (Twisted API)
        self, delay: float, callable: Callable[..., Any], *args: object, **kwargs: object
    ) -> Timer: ...

    def spawnProcess(  # noqa: N802
        self,
        processProtocol: Any,  # noqa: N803
        executable: bytes | str,
        args: Sequence[bytes | str],
        env: Mapping[str, str] | None = ...,
        path: bytes | str | None = ...,
        uid: int | None = ...,
        gid: int | None = ...,
        usePTY: bool = ...,  # noqa: N803
        childFDs: Mapping[int, int | str] | None = ...,  # noqa: N803
    ) -> Any: ...


@dataclass(frozen=True)
class PoolSettings:
    """How workers are spawned and how many. Validated on creation."""

    python: str = sys.executable
    calls_per_worker: int = 4  # pjsua2's PJSUA_MAX_CALLS in the PyPI wheel
    slots_per_call: int = 2  # caller + agent leg in the same process
    spare_workers: int = 1  # spare capacity, in whole workers' worth of conversations
    spare_ratio: float = 0.1  # and at least this share of the busy places, so a ramp finds
    # workers already started (a start costs ~0.15 s of CPU, far more when the box is busy)
    max_workers: int = 50
    min_workers: int = 0  # started at boot and never retired: pre-start for the expected peak
    idle_retire_seconds: float = 300.0
    media_address: str = "127.0.0.1"  # RTP bind and SDP address of the workers
    rtp_port_base: int = 20000
    rtp_ports_per_worker: int = 40  # worker i uses [base + i*n, base + (i+1)*n)
    start_timeout_seconds: float = 15.0
    stop_timeout_seconds: float = 5.0
    respawn_delay_seconds: float = 2.0  # after a worker failed to start: no tight crash loop
    pj_log_level: int = 1
    worker_log_level: str = "INFO"
    env: Mapping[str, str] = field(default_factory=dict)  # added to the controller's environment
    front_uri: str | None = None  # the SIP front as the workers' outbound proxy for agent legs,
    # e.g. "sip:127.0.0.1:5060;lr"; None: dial legs go straight to their URI

    def __post_init__(self) -> None:
        if self.slots_per_call < 1 or self.calls_per_worker < self.slots_per_call:
            raise ValueError("need 1 <= slots_per_call <= calls_per_worker")
        if not 0 <= self.min_workers <= self.max_workers:
            raise ValueError("need 0 <= min_workers <= max_workers")
        if self.max_workers < 1 or not 0 <= self.spare_workers <= self.max_workers:
            raise ValueError("need max_workers >= 1 and 0 <= spare_workers <= max_workers")
        if not 0 <= self.spare_ratio <= 1:
            raise ValueError("spare_ratio must be between 0 and 1")
        if self.rtp_ports_per_worker < 2 * self.calls_per_worker:
            raise ValueError("rtp_ports_per_worker must give each call an RTP and an RTCP port")
        if self.rtp_port_base < 1024 or self.rtp_port_end > 65536:
            raise ValueError(f"RTP ports {self.rtp_port_base}-{self.rtp_port_end} out of range")

    @staticmethod
    def front_proxy(host: str, port: int) -> str:
        """``front_uri`` for a front listening on ``host:port``: the workers run on this host
        and reach a wildcard listener on loopback."""
        reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        if ":" in reachable:
            reachable = f"[{reachable}]"
        return f"sip:{reachable}:{port};lr"

    @property
    def conversations_per_worker(self) -> int:
        return self.calls_per_worker // self.slots_per_call

    @property
    def rtp_port_end(self) -> int:
        return self.rtp_port_base + self.max_workers * self.rtp_ports_per_worker


@dataclass(frozen=True)
class PoolStats:
    workers: int  # live processes (starting + ready + stopping)
    starting: int
    ready: int
    calls: int  # reservations
    legs: int  # agent legs riding on those reservations
    busy_slots: int
    free_slots: int  # in ready and starting workers
    spawned: int
    retired: int
    crashed: int


@dataclass(frozen=True)
class WorkerInfo:
    index: int
    pid: int
    sip_port: int
    state: str
    calls: tuple[str, ...]


class WorkerPool:
    """Places calls on media workers and keeps the right number of workers alive."""

    def __init__(
        self,
        reactor: PoolReactor,
        settings: PoolSettings,
        on_event: Callable[[dict[str, Any]], None],
        on_calls_lost: Callable[[list[str]], None],
    ) -> None:
        self._reactor = reactor
        self.settings = settings
        self._on_event = on_event
        self._on_calls_lost = on_calls_lost
        self._workers: dict[int, WorkerProcess] = {}  # index -> worker, live ones only
        self._by_call: dict[str, WorkerProcess] = {}
        self._legs: dict[str, str] = {}  # agent leg id -> the reserved call it was dialled for
        self._slots: dict[str, int] = {}  # calls reserved with other than slots_per_call slots
        self._stopping = False
        self._respawn_after = 0.0
        self._replenish_call: Timer | None = None
        self._timers: dict[int, list[Timer]] = {}
        self.spawned = 0
        self.retired = 0
        self.crashed = 0
        self.start_failures = 0  # of the crashes: workers that died before becoming ready

    # -- public API ------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Spawn the spare (and minimum) workers; fires when they are all ready."""
        self._replenish()
        while len(self._workers) < self.settings.min_workers:
            self._spawn()
        waiting = [w.when_ready() for w in self._workers.values()]
        d: Deferred[Any] = DeferredList(waiting, fireOnOneErrback=True, consumeErrors=True)

        def done(_: object) -> None:
            return None

        def failed(failure: Failure) -> Failure:
            first = failure.value
            return first.subFailure if isinstance(first, FirstError) else failure

        return d.addCallbacks(done, failed)

    def reserve(self, call_id: str, slots: int | None = None) -> Deferred[Address]:
        """Reserve ``slots`` (default ``slots_per_call``) slots for a new call; fires with the
        worker's SIP address. A call that will never get an agent leg (a supervisor's monitor
        call) needs 1.

        Idempotent for a call already placed (INVITE retransmissions). Errbacks with
        :class:`NoCapacityError` when every allowed worker is full.
        """
        if self._stopping:
            return fail(NoCapacityError("media worker pool is stopping"))
        worker = self._by_call.get(call_id)
        if worker is None:
            need = self.settings.slots_per_call if slots is None else slots
            if not 1 <= need <= self.settings.calls_per_worker:
                raise ValueError(f"slots must be 1-{self.settings.calls_per_worker}")
            worker = self._place(need)
            if worker is None:
                return fail(NoCapacityError(f"all {self.settings.max_workers} media workers full"))
            if need != self.settings.slots_per_call:
                self._slots[call_id] = need
            worker.calls.add(call_id)
            worker.idle_since = None
            self._by_call[call_id] = worker
            self._replenish()
        return worker.when_ready()

    def release(self, call_id: str) -> None:
        """Give the call's slots back. Unknown calls are ignored (release is idempotent).

        The pool also releases a call by itself when its worker reports ``hangup`` for it, so
        an application that misses a release cannot leak capacity. Releasing a call forgets
        its agent legs too; releasing an agent leg only forgets the leg (it holds no slots).
        """
        if self._legs.pop(call_id, None) is not None:
            return
        worker = self._by_call.pop(call_id, None)
        if worker is None:
            return
        for leg in [leg for leg, peer in self._legs.items() if peer == call_id]:
            del self._legs[leg]
        worker.calls.discard(call_id)
        self._slots.pop(call_id, None)
        if not worker.calls and worker.state is WorkerState.READY:
            self._became_idle(worker)

    def send(self, call_id: str, command: protocol.Command | Mapping[str, Any]) -> None:
        """Send a command to the worker holding ``call_id`` (a reserved call or an agent leg).

        A ``dial`` for a new leg id maps the leg to its ``peer``'s worker first: the leg lives
        in the caller's process and uses the second slot of the caller's reservation.
        A ``dial`` without a peer goes to the worker where its own id was reserved.
        Raises :class:`UnknownCallError` without a reservation (for a ``dial``: of the peer)
        and ``ProtocolError`` for a malformed command (a programming error, not a runtime
        condition).
        """
        if not isinstance(command, protocol.Command):
            command = protocol.command_from_dict(command)
        if isinstance(command, protocol.Dial) and command.peer:
            if call_id != command.call:
                raise ValueError(f"dial of leg {command.call!r} sent as {call_id!r}")
            worker = self._by_call.get(command.peer)
            if worker is None or worker.state is not WorkerState.READY:
                raise UnknownCallError(command.peer)
            if call_id in self._by_call or self._legs.get(call_id, command.peer) != command.peer:
                raise ValueError(f"leg id {call_id!r} is already in use")
            self._legs[call_id] = command.peer
            worker.send(command)
            return
        worker = self._worker_of(call_id)
        if worker is None or worker.state is not WorkerState.READY:
            raise UnknownCallError(call_id)
        worker.send(command)

    def worker_address(self, call_id: str) -> Address | None:
        worker = self._worker_of(call_id)
        return worker.address if worker is not None and worker.sip_port else None

    def tap_address(self, call_id: str) -> Address | None:
        """Where the worker holding ``call_id`` (a call or an agent leg) receives tap audio."""
        worker = self._worker_of(call_id)
        if worker is None or worker.state is not WorkerState.READY or not worker.tap_port:
            return None
        return ("127.0.0.1", worker.tap_port)

    def legs_of(self, call_id: str) -> list[str]:
        """The agent legs currently dialled for ``call_id``."""
        return sorted(leg for leg, peer in self._legs.items() if peer == call_id)

    def _worker_of(self, call_id: str) -> WorkerProcess | None:
        peer = self._legs.get(call_id)
        return self._by_call.get(call_id if peer is None else peer)

    def stop(self) -> Deferred[None]:
        """Shut every worker down (they hang up their calls); SIGKILL after the timeout."""
        self._stopping = True
        if self._replenish_call is not None and self._replenish_call.active():
            self._replenish_call.cancel()
        ended = []
        for worker in list(self._workers.values()):
            ended.append(worker.when_ended())
            self._ask_to_exit(worker)
        d: Deferred[Any] = DeferredList(ended)

        def done(_: object) -> None:
            return None

        return d.addCallback(done)

    def stats(self) -> PoolStats:
        live = list(self._workers.values())
        usable = [w for w in live if w.state in (WorkerState.STARTING, WorkerState.READY)]
        busy = sum(self._busy_slots(w) for w in live)
        return PoolStats(
            workers=len(live),
            starting=sum(1 for w in live if w.state is WorkerState.STARTING),
            ready=sum(1 for w in live if w.state is WorkerState.READY),
            calls=len(self._by_call),
            legs=len(self._legs),
            busy_slots=busy,
            free_slots=sum(max(0, self._free_slots(w)) for w in usable),
            spawned=self.spawned,
            retired=self.retired,
            crashed=self.crashed,
        )

    def workers(self) -> list[WorkerInfo]:
        return [
            WorkerInfo(w.index, w.pid, w.sip_port, w.state.value, tuple(sorted(w.calls)))
            for w in sorted(self._workers.values(), key=lambda w: w.index)
        ]

    # -- placement and capacity ------------------------------------------------------------

    def _busy_slots(self, worker: WorkerProcess) -> int:
        default = self.settings.slots_per_call
        return sum(self._slots.get(call_id, default) for call_id in worker.calls)

    def _free_slots(self, worker: WorkerProcess) -> int:
        return self.settings.calls_per_worker - self._busy_slots(worker)

    def _place(self, need: int) -> WorkerProcess | None:

        def fits(w: WorkerProcess, state: WorkerState) -> bool:
            return w.state is state and self._free_slots(w) >= need

        for state in (WorkerState.READY, WorkerState.STARTING):
            candidates = [w for w in self._workers.values() if fits(w, state)]
            if candidates:
                return min(candidates, key=lambda w: (self._free_slots(w), w.index))
        if len(self._workers) < self.settings.max_workers:
            return self._spawn()
        return None

    def _free_places(self, exclude: WorkerProcess | None = None) -> int:
        return sum(
            max(0, self._free_slots(w)) // self.settings.slots_per_call
            for w in self._workers.values()
            if w is not exclude and w.state in (WorkerState.STARTING, WorkerState.READY)
        )

    def _spare_target(self) -> int:
        s = self.settings
        busy = len(self._by_call)
        return max(s.spare_workers * s.conversations_per_worker, math.ceil(busy * s.spare_ratio))

    def _replenish(self) -> None:
        """Spawn workers until the spare target is met (or max_workers reached)."""
        if self._stopping:
            return
        now = self._reactor.seconds()
        while (
            self._free_places() < self._spare_target()
            and len(self._workers) < self.settings.max_workers
        ):
            if now < self._respawn_after:
                if self._replenish_call is None or not self._replenish_call.active():
                    self._replenish_call = self._reactor.callLater(
                        self._respawn_after - now, self._replenish
                    )
                return
            self._spawn()

    # -- process lifecycle -----------------------------------------------------------------

    def _spawn(self) -> WorkerProcess:
        s = self.settings
        index = next(i for i in range(s.max_workers) if i not in self._workers)
        worker = WorkerProcess(index, self._worker_event, self._worker_exited)
        args = [
            s.python,
            "-m",
            "callcenter.media.worker",
            "--sip-port",
            "0",
            "--rtp-port-start",
            str(s.rtp_port_base + index * s.rtp_ports_per_worker),
            "--rtp-port-count",
            str(s.rtp_ports_per_worker),
            "--media-address",
            s.media_address,
            "--calls",
            str(s.calls_per_worker),
            "--pj-log-level",
            str(s.pj_log_level),
            "--log-level",
            s.worker_log_level,
        ]
        if s.front_uri:
            args += ["--proxy", s.front_uri]
        env = {**os.environ, **s.env}
        self._workers[index] = worker
        self.spawned += 1
        self._reactor.spawnProcess(worker, s.python, args, env=env, childFDs=CHILD_FDS)
        log.info("spawned media worker #%d (pid %d)", index, worker.pid)
        self._timer(worker, s.start_timeout_seconds, self._start_timed_out, worker)
        return worker

    def _timer(self, worker: WorkerProcess, delay: float, fn: Callable[..., Any], *a: Any) -> None:
        self._timers.setdefault(worker.index, []).append(self._reactor.callLater(delay, fn, *a))

    def _start_timed_out(self, worker: WorkerProcess) -> None:
        if worker.state is WorkerState.STARTING and self._workers.get(worker.index) is worker:
            log.error("media worker #%d did not start in time; killing it", worker.index)
            worker.kill()

    def _worker_event(self, worker: WorkerProcess, event: dict[str, Any]) -> None:
        if event.get("ev") == "ready":
            log.info("media worker #%d ready on port %d", worker.index, worker.sip_port)
            if not worker.calls:
                if self._stopping:
                    self._ask_to_exit(worker)
                else:
                    self._became_idle(worker)
            return
        call_id = event.get("call")
        if event.get("ev") == "incoming" and isinstance(call_id, str):
            self._adopt(worker, call_id)
        self._on_event(event)
        if event.get("ev") not in ("hangup", "leg_failed") or not isinstance(call_id, str):
            return
        if call_id in self._legs:
            if self._worker_of(call_id) is worker:
                del self._legs[call_id]
        elif self._by_call.get(call_id) is worker:
            self.release(call_id)

    def _adopt(self, worker: WorkerProcess, call_id: str) -> None:
        """The worker is the ground truth: a call it reports holds slots there, reserved or not
        (a peer that dialled the worker directly, or a front that routed elsewhere)."""
        owner = self._by_call.get(call_id)
        if owner is worker:
            return
        if owner is not None:
            log.warning(
                "call %s reserved on worker #%d arrived on #%d", call_id, owner.index, worker.index
            )
            owner.calls.discard(call_id)
        worker.calls.add(call_id)
        worker.idle_since = None
        self._by_call[call_id] = worker
        self._replenish()

    def _became_idle(self, worker: WorkerProcess) -> None:
        stamp = self._reactor.seconds()
        worker.idle_since = stamp
        self._timer(worker, self.settings.idle_retire_seconds, self._maybe_retire, worker, stamp)

    def _maybe_retire(self, worker: WorkerProcess, stamp: float) -> None:
        if (
            self._stopping
            or worker.state is not WorkerState.READY
            or worker.idle_since != stamp
            or self._free_places(exclude=worker) < self._spare_target()
            or len(self._workers) <= self.settings.min_workers
        ):
            return
        log.info("retiring idle media worker #%d", worker.index)
        self.retired += 1
        self._ask_to_exit(worker)

    def _ask_to_exit(self, worker: WorkerProcess) -> None:
        if worker.state is WorkerState.GONE:
            return
        try:
            worker.shutdown()
        except WorkerStartError:
            worker.kill()
        self._timer(worker, self.settings.stop_timeout_seconds, worker.kill)

    def _worker_exited(self, worker: WorkerProcess, reason: Failure) -> None:
        for timer in self._timers.pop(worker.index, []):
            if timer.active():
                timer.cancel()
        if self._workers.get(worker.index) is worker:
            del self._workers[worker.index]
        # Calls placed on a worker that never became ready were never routed: their reserve()
        # Deferreds have already failed, so they are not reported lost a second time.
        lost = sorted(worker.calls) if worker.was_ready else []
        for call_id in worker.calls:
            if self._by_call.get(call_id) is worker:
                del self._by_call[call_id]
                self._slots.pop(call_id, None)
        for leg in [leg for leg, peer in self._legs.items() if peer in worker.calls]:
            del self._legs[leg]  # the application ends them with their peers
        worker.calls.clear()
        if not (worker.exit_requested or self._stopping):
            self.crashed += 1
            if not worker.was_ready:  # died during start-up: back off before trying again
                self.start_failures += 1
                self._respawn_after = self._reactor.seconds() + self.settings.respawn_delay_seconds
            log.error(
                "media worker #%d (pid %d) died: %s; %d call(s) lost",
                worker.index,
                worker.pid,
                reason.value,
                len(lost),
            )
        if lost and not self._stopping:
            self._on_calls_lost(lost)
        self._replenish()
