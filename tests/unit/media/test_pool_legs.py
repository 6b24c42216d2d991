"""Agent legs ride on their caller's reservation: same worker, no extra slots, gone with it."""

from __future__ import annotations

import pytest

from callcenter.media import protocol
from callcenter.media.pool import PoolSettings, UnknownCallError
from tests.unit.media.test_pool import make, result

DIAL = {
    "cmd": "dial",
    "call": "leg-a",
    "peer": "a",
    "uri": "sip:agent1@127.0.0.1:5060",
    "caller_id": "+442079460000",
    "display": "Billing: +442079460000",
    "timeout": 20,
    "headers": {"X-Queue": "billing"},
}


def test_a_dial_maps_the_leg_to_its_callers_worker_without_taking_slots() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    first = result(h.pool.reserve("b"))
    (proc,) = h.reactor.processes
    before = h.pool.stats()
    h.pool.send("leg-a", DIAL)
    assert proc.commands[-1] == {**DIAL, "timeout": 20.0}
    assert h.pool.worker_address("leg-a") == first
    assert h.pool.legs_of("a") == ["leg-a"]
    after = h.pool.stats()
    assert (after.calls, after.busy_slots, after.free_slots) == (
        before.calls,
        before.busy_slots,
        before.free_slots,
    )
    assert after.legs == 1
    h.pool.send("leg-a", {"cmd": "cancel_dial", "call": "leg-a"})
    h.pool.send("a", protocol.Bridge(a="a", b="leg-a"))
    assert [c["cmd"] for c in proc.commands[-2:]] == ["cancel_dial", "bridge"]


def test_a_dial_needs_a_placed_peer_and_a_fresh_leg_id() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.pool.reserve("b")
    h.ready_all()
    with pytest.raises(UnknownCallError):
        h.pool.send("leg-x", {**DIAL, "call": "leg-x", "peer": "nobody"})
    with pytest.raises(ValueError, match="in use"):
        h.pool.send("b", {**DIAL, "call": "b"})
    with pytest.raises(ValueError, match="sent as"):
        h.pool.send("other", DIAL)
    h.pool.send("leg-a", DIAL)
    with pytest.raises(ValueError, match="in use"):
        h.pool.send("leg-a", {**DIAL, "peer": "b"})
    h.pool.send("leg-a", DIAL)  # the same dial again is the controller's business, not ours


def test_leg_failed_and_the_legs_hangup_forget_only_the_leg() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    (proc,) = h.reactor.processes
    h.pool.send("leg-a", DIAL)
    proc.event(protocol.LegRinging(call="leg-a"))
    proc.event(protocol.LegFailed(call="leg-a", code=486, reason="Busy Here"))
    assert [e["ev"] for e in h.events] == ["leg_ringing", "leg_failed"]
    assert h.pool.worker_address("leg-a") is None
    assert h.pool.stats().calls == 1  # the caller keeps its reservation for the next agent
    h.pool.send("leg-a2", {**DIAL, "call": "leg-a2"})
    proc.event(protocol.LegAnswered(call="leg-a2"))
    proc.event(protocol.HungUp(call="leg-a2", code=200, reason="", by="remote"))
    assert h.pool.legs_of("a") == []
    assert h.pool.stats().calls == 1
    with pytest.raises(UnknownCallError):
        h.pool.send("leg-a2", {"cmd": "hangup", "call": "leg-a2"})


def test_the_callers_hangup_releases_its_legs_with_it() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    (proc,) = h.reactor.processes
    h.pool.send("leg-a", DIAL)
    proc.event(protocol.HungUp(call="a", code=200, reason="", by="remote"))
    assert h.pool.stats().calls == 0 and h.pool.stats().legs == 0
    assert h.pool.worker_address("leg-a") is None
    proc.event(protocol.HungUp(call="leg-a", code=200, reason="", by="local"))  # arrives after
    assert h.events[-1] == {
        "ev": "hangup",
        "call": "leg-a",
        "code": 200,
        "reason": "",
        "by": "local",
    }


def test_release_of_a_leg_or_its_caller() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    h.pool.send("leg-a", DIAL)
    h.pool.release("leg-a")
    assert h.pool.stats().calls == 1 and h.pool.stats().legs == 0
    h.pool.send("leg-a", DIAL)
    h.pool.release("a")
    assert h.pool.stats().calls == 0 and h.pool.stats().legs == 0


def test_a_crash_forgets_the_legs_and_reports_only_the_callers() -> None:
    h = make(spare_workers=0)
    h.pool.reserve("a")
    h.ready_all()
    (proc,) = h.reactor.processes
    h.pool.send("leg-a", DIAL)
    proc.exit(1, signal=9)
    assert h.lost == [["a"]]
    assert h.pool.stats().legs == 0


def test_front_uri_becomes_the_workers_outbound_proxy() -> None:
    h = make(spare_workers=0, front_uri="sip:127.0.0.1:5070;lr")
    h.pool.reserve("a")
    args = h.reactor.processes[0].args
    assert args[args.index("--proxy") + 1] == "sip:127.0.0.1:5070;lr"
    plain = make(spare_workers=0)
    plain.pool.reserve("a")
    assert "--proxy" not in plain.reactor.processes[0].args
    assert PoolSettings.front_proxy("0.0.0.0", 5060) == "sip:127.0.0.1:5060;lr"
    assert PoolSettings.front_proxy("10.0.0.5", 5070) == "sip:10.0.0.5:5070;lr"
    assert PoolSettings.front_proxy("::", 5060) == "sip:127.0.0.1:5060;lr"
    assert PoolSettings.front_proxy("fd00::1", 5060) == "sip:[fd00::1]:5060;lr"
