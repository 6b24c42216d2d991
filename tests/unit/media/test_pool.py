"""Pool bookkeeping with a fake clock and fake worker processes (no real spawning)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from callcenter.media import protocol
from callcenter.media.pool import (
    NoCapacityError,
    PoolSettings,
    UnknownCallError,
    WorkerPool,
    WorkerStartError,
)
from callcenter.media.process import WorkerProcess

_pids = itertools.count(1000)


@dataclass
class FakeProcess:
    """Stands in for Twisted's process transport: records what the pool writes and signals."""

    proto: WorkerProcess
    args: list[str]
    childFDs: Mapping[int, int | str]  # noqa: N815 (Twisted's name)
    pid: int = field(default_factory=lambda: next(_pids))
    written: list[bytes] = field(default_factory=list)
    signals: list[str | int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    alive: bool = True

    def writeToChild(self, childFD: int, data: bytes) -> None:  # noqa: N802, N803
        assert childFD == 3
        self.written.append(data)

    def closeChildFD(self, descriptor: int) -> None:  # noqa: N802
        self.closed.append(descriptor)

    def signalProcess(self, signalID: str | int) -> None:  # noqa: N802, N803
        self.signals.append(signalID)

    # test controls

    @property
    def commands(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.written]

    def ready(self, sip_port: int) -> None:
        self.proto.childDataReceived(4, protocol.encode(protocol.Ready(sip_port, self.pid)))

    def event(self, event: protocol.Event) -> None:
        self.proto.childDataReceived(4, protocol.encode(event))

    def exit(self, code: int = 0, signal: int | None = None) -> None:
        self.alive = False
        error: Exception
        if code == 0 and signal is None:
            error = ProcessDone(0)  # type: ignore[no-untyped-call]
        else:
            error = ProcessTerminated(code if signal is None else None, signal)  # type: ignore[no-untyped-call]
        self.proto.processEnded(Failure(error))  # type: ignore[no-untyped-call]


class FakeReactor(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.processes: list[FakeProcess] = []

    def spawnProcess(  # noqa: N802
        self,
        processProtocol: Any,  # noqa: N803
        executable: bytes | str,
        args: Sequence[bytes | str],
        env: Mapping[str, str] | None = None,
        path: bytes | str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,  # noqa: N803
        childFDs: Mapping[int, int | str] | None = None,  # noqa: N803
    ) -> FakeProcess:
        assert childFDs is not None
        proc = FakeProcess(processProtocol, [str(a) for a in args], childFDs)
        self.processes.append(proc)
        processProtocol.makeConnection(proc)
        return proc

    @property
    def live(self) -> list[FakeProcess]:
        return [p for p in self.processes if p.alive]


@dataclass
class Harness:
    reactor: FakeReactor
    pool: WorkerPool
    events: list[dict[str, Any]]
    lost: list[list[str]]

    def ready_all(self) -> None:
        for n, proc in enumerate(self.reactor.live):
            if not proc.proto.sip_port:
                proc.ready(6000 + len(self.reactor.processes) * 10 + n)


def make(**overrides: Any) -> Harness:
    reactor = FakeReactor()
    events: list[dict[str, Any]] = []
    lost: list[list[str]] = []
    # spare_ratio 0: the tests below count workers exactly; the ratio has its own test.
    defaults = {"spare_workers": 1, "max_workers": 3, "spare_ratio": 0.0}
    settings = PoolSettings(**{**defaults, **overrides})
    pool = WorkerPool(reactor, settings, events.append, lost.append)
    return Harness(reactor, pool, events, lost)


def result(d: Deferred[Any]) -> Any:
    out: list[Any] = []

    def keep(value: Any) -> Any:
        out.append(value)
        return None if isinstance(value, Failure) else value

    d.addBoth(keep)
    assert out, "Deferred has not fired"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]


def failure(d: Deferred[Any]) -> Failure:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out and isinstance(out[0], Failure), f"expected a failure, got {out}"
    return out[0]


def test_start_spawns_the_spare_worker_and_fires_when_it_is_ready() -> None:
    h = make(spare_workers=1)
    d = h.pool.start()
    assert len(h.reactor.processes) == 1
    assert not d.called
    proc = h.reactor.processes[0]
    assert proc.args[1:3] == ["-m", "callcenter.media.worker"]
    assert dict(proc.childFDs) == {0: "w", 1: "r", 2: "r", 3: "w", 4: "r"}
    assert proc.closed == [0]
    proc.ready(6000)
    assert result(d) is None
    stats = h.pool.stats()
    assert (stats.workers, stats.ready, stats.free_slots, stats.spawned) == (1, 1, 4, 1)


def test_start_fails_when_a_spare_dies_before_ready() -> None:
    h = make(spare_workers=1)
    d = h.pool.start()
    h.reactor.processes[0].exit(1)
    assert isinstance(failure(d).value, WorkerStartError)


def test_two_callers_share_a_worker_and_the_pool_keeps_a_spare() -> None:
    h = make(spare_workers=1)
    h.pool.start()
    h.ready_all()
    first = result(h.pool.reserve("a"))
    # 2 slots left = 1 conversation place < target 2: a spare is started at once
    assert len(h.reactor.processes) == 2
    h.ready_all()
    second = result(h.pool.reserve("b"))
    assert second == first, "best fit: the fuller worker takes the second caller"
    third = result(h.pool.reserve("c"))
    assert third != first
    stats = h.pool.stats()
    assert (stats.calls, stats.busy_slots) == (3, 6)
    assert stats.workers == 3  # third worker spawned to restore the spare places


def test_reserve_is_idempotent_for_the_same_call() -> None:
    h = make()
    h.pool.start()
    h.ready_all()
    assert result(h.pool.reserve("a")) == result(h.pool.reserve("a"))
    assert h.pool.stats().calls == 1


def test_reservation_on_a_starting_worker_fires_when_it_is_ready() -> None:
    h = make(spare_workers=0)
    h.pool.start()
    assert h.reactor.processes == []
    d = h.pool.reserve("a")
    assert len(h.reactor.processes) == 1 and not d.called
    h.reactor.processes[0].ready(7000)
    assert result(d) == ("127.0.0.1", 7000)


def test_reservation_fails_when_its_worker_dies_during_start() -> None:
    h = make(spare_workers=0)
    d = h.pool.reserve("a")
    h.reactor.processes[0].exit(1)
    assert isinstance(failure(d).value, WorkerStartError)
    assert h.lost == [], "never routed, so not reported lost again"
    assert h.pool.stats().calls == 0


def test_no_capacity_when_every_worker_is_full() -> None:
    h = make(spare_workers=0, max_workers=2)
    ds = [h.pool.reserve(f"c{i}") for i in range(4)]
    h.ready_all()
    assert len({result(d) for d in ds}) == 2
    assert isinstance(failure(h.pool.reserve("c5")).value, NoCapacityError)
    h.pool.release("c0")
    assert result(h.pool.reserve("c5")) == result(ds[0])


def test_calls_per_worker_and_slots_are_settings() -> None:
    h = make(spare_workers=0, calls_per_worker=4, slots_per_call=1)
    ds = [h.pool.reserve(f"c{i}") for i in range(5)]
    h.ready_all()
    addresses = [result(d) for d in ds]
    assert len(set(addresses[:4])) == 1 and addresses[4] != addresses[0]
    assert len(h.reactor.processes) == 2


def test_each_worker_gets_its_own_rtp_port_range_and_indices_are_reused() -> None:
    h = make(spare_workers=0, rtp_port_base=30000, rtp_ports_per_worker=20)
    for i in range(4):
        h.pool.reserve(f"c{i}")
    h.ready_all()
    starts = [p.args[p.args.index("--rtp-port-start") + 1] for p in h.reactor.processes]
    assert starts == ["30000", "30020"]
    h.reactor.processes[0].exit(signal=9)
    h.pool.reserve("again")
    assert (
        h.reactor.processes[-1].args[h.reactor.processes[-1].args.index("--rtp-port-start") + 1]
        == "30000"
    )


def test_spare_capacity_grows_with_load_so_a_ramp_finds_started_workers() -> None:
    h = make(spare_workers=1, spare_ratio=0.25, max_workers=40)
    h.pool.start()
    h.ready_all()
    for i in range(40):  # 40 callers = 20 workers of 2 conversations
        h.pool.reserve(f"c{i}")
        h.ready_all()
    stats = h.pool.stats()
    # 25% of 40 busy places = 10 spare places = 5 more workers, beyond the 20 in use.
    assert stats.workers == 25
    assert stats.free_slots == 10 * 2


def test_minimum_workers_start_at_boot_and_are_never_retired() -> None:
    h = make(spare_workers=0, min_workers=3, max_workers=5, idle_retire_seconds=60)
    h.pool.start()
    h.ready_all()
    assert h.pool.stats().workers == 3
    h.pool.reserve("a")
    h.pool.release("a")
    h.reactor.advance(600)
    assert h.pool.stats().workers == 3
    assert h.pool.stats().retired == 0


def test_idle_worker_is_retired_only_when_the_spare_target_still_holds() -> None:
    h = make(spare_workers=1, idle_retire_seconds=60)
    h.pool.start()
    h.ready_all()
    h.pool.reserve("a")
    h.pool.reserve("b")  # worker 0 full; worker 1 is the spare
    h.ready_all()
    h.pool.release("a")
    h.pool.release("b")
    h.reactor.advance(61)
    # both idle: one of them is retired, the other remains as the spare
    shutdowns = [p for p in h.reactor.processes if {"cmd": "shutdown"} in p.commands]
    assert len(shutdowns) == 1
    shutdowns[0].exit(0)
    stats = h.pool.stats()
    assert (stats.workers, stats.retired, stats.crashed) == (1, 1, 0)
    assert h.lost == []
    h.reactor.advance(600)
    assert h.pool.stats().workers == 1, "the last spare is never retired"


def test_a_worker_that_gets_a_call_again_is_not_retired() -> None:
    h = make(spare_workers=0, idle_retire_seconds=60)
    h.pool.reserve("a")
    h.ready_all()
    h.pool.release("a")
    h.reactor.advance(30)
    h.pool.reserve("b")
    h.reactor.advance(31)
    assert h.reactor.processes[0].commands == []


def test_retired_worker_that_ignores_shutdown_is_killed() -> None:
    h = make(spare_workers=0, idle_retire_seconds=10, stop_timeout_seconds=5)
    h.pool.reserve("a")
    h.ready_all()
    h.pool.release("a")
    h.reactor.advance(10)
    proc = h.reactor.processes[0]
    assert proc.commands == [{"cmd": "shutdown"}]
    h.reactor.advance(5)
    assert proc.signals == ["KILL"]


def test_crash_reports_only_that_workers_calls_and_replaces_it() -> None:
    h = make(spare_workers=1, max_workers=4)
    h.pool.start()
    h.ready_all()
    for call in ("a", "b", "c"):
        h.pool.reserve(call)
    h.ready_all()
    victim = next(p for p in h.reactor.processes if p.proto.calls == {"a", "b"})
    before = len(h.reactor.processes)
    victim.exit(signal=9)
    assert h.lost == [["a", "b"]]
    assert h.pool.worker_address("c") is not None
    assert h.pool.worker_address("a") is None
    stats = h.pool.stats()
    assert stats.crashed == 1 and stats.calls == 1
    with pytest.raises(UnknownCallError):
        h.pool.send("a", {"cmd": "answer", "call": "a"})
    assert len(h.reactor.processes) >= before  # spare capacity restored
    assert h.pool._free_places() >= 2


def test_start_up_crash_loop_backs_off() -> None:
    h = make(spare_workers=1, respawn_delay_seconds=2)
    h.pool.start()
    h.reactor.processes[0].exit(1)
    assert len(h.reactor.processes) == 1, "no immediate respawn after a start-up failure"
    h.reactor.advance(2)
    assert len(h.reactor.processes) == 2


def test_start_timeout_kills_a_silent_worker() -> None:
    h = make(spare_workers=1, start_timeout_seconds=3)
    d = h.pool.start()
    h.reactor.advance(3)
    proc = h.reactor.processes[0]
    assert proc.signals == ["KILL"]
    proc.exit(signal=9)
    assert isinstance(failure(d).value, WorkerStartError)
    assert h.pool.stats().crashed == 1


def test_send_routes_to_the_callers_worker_and_validates() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.pool.reserve("b")
    h.pool.reserve("c")
    h.ready_all()
    h.pool.send("c", {"cmd": "answer", "call": "c"})
    h.pool.send("a", protocol.Ring(call="a"))
    first, second = h.reactor.processes
    assert first.commands == [{"cmd": "ring", "call": "a"}]
    assert second.commands == [{"cmd": "answer", "call": "c"}]
    with pytest.raises(protocol.ProtocolError):
        h.pool.send("a", {"cmd": "answer"})
    with pytest.raises(UnknownCallError):
        h.pool.send("zzz", {"cmd": "answer", "call": "zzz"})


def test_events_are_forwarded_and_hangup_releases_the_call() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    proc = h.reactor.processes[0]
    proc.event(protocol.Incoming(call="a", from_uri="<sip:x@y>", to_uri="<sip:ivr@z>"))
    proc.proto.childDataReceived(4, b'{"ev":"answered","call":"a"}\n{"ev":"dtmf","call":"a",')
    proc.proto.childDataReceived(4, b'"digit":"5","method":"info"}\nnot json\n{"ev":"nope"}\n')
    assert [e["ev"] for e in h.events] == ["incoming", "answered", "dtmf"]
    assert h.events[2]["digit"] == "5"
    proc.event(protocol.HungUp(call="a", code=200, reason="", by="remote"))
    assert h.events[-1]["ev"] == "hangup"
    assert h.pool.stats().calls == 0


def test_a_call_that_arrives_unreserved_is_adopted_by_its_worker() -> None:
    h = make(spare_workers=1)
    h.pool.start()
    h.ready_all()
    proc = h.reactor.processes[0]
    proc.event(protocol.Incoming(call="direct", from_uri="f", to_uri="t"))
    assert h.pool.worker_address("direct") == proc.proto.address
    h.pool.send("direct", {"cmd": "answer", "call": "direct"})
    assert proc.commands == [{"cmd": "answer", "call": "direct"}]
    assert len(h.reactor.processes) == 2, "adoption counts against the spare target"


def test_stop_shuts_everything_down_and_kills_stragglers() -> None:
    h = make(spare_workers=2, stop_timeout_seconds=5)
    h.pool.start()
    h.ready_all()
    h.pool.reserve("a")
    h.ready_all()
    d = h.pool.stop()
    procs = h.reactor.live
    assert len(procs) == 3
    assert all({"cmd": "shutdown"} in p.commands for p in procs)
    procs[0].exit(0)
    procs[2].exit(0)
    assert not d.called
    h.reactor.advance(5)
    assert procs[1].signals == ["KILL"]
    procs[1].exit(signal=9)
    assert result(d) is None
    assert h.lost == [], "the application stopped the pool: nothing is 'lost'"
    assert h.pool.stats().crashed == 0
    assert isinstance(failure(h.pool.reserve("b")).value, NoCapacityError)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="slots_per_call"):
        PoolSettings(calls_per_worker=1, slots_per_call=2)
    with pytest.raises(ValueError, match="spare_workers"):
        PoolSettings(spare_workers=5, max_workers=2)
    with pytest.raises(ValueError, match="RTP ports"):
        PoolSettings(rtp_port_base=60000, max_workers=200)
    with pytest.raises(ValueError, match="rtp_ports_per_worker"):
        PoolSettings(rtp_ports_per_worker=4)
    assert PoolSettings().conversations_per_worker == 2


def test_a_call_without_an_agent_leg_may_reserve_one_slot() -> None:
    h = make(spare_workers=0)
    d = h.pool.reserve("caller")
    h.ready_all()
    worker = result(d)
    # A supervisor's monitor calls: one slot each, next to the conversation.
    assert result(h.pool.reserve("sup-1", slots=1)) == worker
    assert result(h.pool.reserve("sup-2", slots=1)) == worker
    assert h.pool.stats().busy_slots == 4
    d2 = h.pool.reserve("caller-2")  # needs 2: another worker
    h.ready_all()
    assert result(d2) != worker
    h.pool.release("sup-1")
    h.pool.release("sup-2")
    assert h.pool.stats().busy_slots == 4  # the two callers
    with pytest.raises(ValueError):
        h.pool.reserve("sup-3", slots=5)
