"""The proxy's routing decisions, driven through a fake network and a fake clock."""

from __future__ import annotations

import random

from callcenter.sip.admission import Reject, RouteTo
from callcenter.sip.message import SipRequest, SipResponse, parse_message
from callcenter.sip.proxy import BRANCH_PREFIX
from callcenter.sip.settings import FrontSettings
from callcenter.sip.transport import Flow
from tests.unit.sip.fakes import (
    CALLER,
    WORKER_FLOW,
    Harness,
    answer,
    invite,
    request,
)


def _forwarded_invite(h: Harness) -> SipRequest:
    h.deliver(CALLER, invite())
    sent = h.network.take()
    assert [(f, m.status) for f, m in sent if isinstance(m, SipResponse)] == [(CALLER, 100)]
    forwarded = [m for f, m in sent if f == WORKER_FLOW]
    assert len(forwarded) == 1 and isinstance(forwarded[0], SipRequest)
    return forwarded[0]


def _established(h: Harness) -> SipRequest:
    fwd = _forwarded_invite(h)
    h.deliver(WORKER_FLOW, answer(fwd, 200))
    h.network.take()
    h.deliver(CALLER, request("ACK", cseq=1))
    h.network.take()
    return fwd


def test_new_invite_is_admitted_and_forwarded_with_our_via_and_record_route() -> None:
    h = Harness()
    fwd = _forwarded_invite(h)
    call = h.admission.calls[0]
    assert (call.call_id, call.caller, call.did, call.caller_name) == (
        "call-1",
        "+15551234",
        "100",
        "Alice",
    )
    assert call.source == CALLER.address and call.transport == "udp"
    top, caller_via = fwd.vias
    assert top.host == "127.0.0.1" and top.port == 5060
    assert (top.branch or "").startswith(BRANCH_PREFIX)
    assert caller_via.received == "192.0.2.10" and caller_via.rport == 5062
    assert fwd.max_forwards == 69
    assert fwd.headers.get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    assert fwd.body.startswith(b"v=0")
    assert h.proxy.dialog_count() == 1


def test_call_answered_and_hung_up_by_caller() -> None:
    h = Harness()
    fwd = _forwarded_invite(h)
    h.deliver(WORKER_FLOW, answer(fwd, 100))
    assert h.network.take() == []  # the worker's 100 is hop-by-hop: dropped
    h.deliver(WORKER_FLOW, answer(fwd, 180))
    ringing = h.network.take_one(CALLER)
    assert isinstance(ringing, SipResponse) and ringing.status == 180
    assert len(ringing.vias) == 1  # our Via popped
    h.deliver(WORKER_FLOW, answer(fwd, 200))
    ok = h.network.take_one(CALLER)
    assert isinstance(ok, SipResponse) and ok.status == 200
    assert ok.headers.get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    h.deliver(CALLER, request("ACK", cseq=1, branch="z9hG4bK-ack"))
    ack = h.network.take_one(WORKER_FLOW)
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.headers.get_all("Route") == []  # our own Route entry stripped
    h.deliver(CALLER, request("BYE", cseq=2, branch="z9hG4bK-bye"))
    bye = h.network.take_one(WORKER_FLOW)
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert h.admission.ended == []
    h.deliver(WORKER_FLOW, answer(bye, 200))
    bye_ok = h.network.take_one(CALLER)
    assert isinstance(bye_ok, SipResponse) and bye_ok.cseq.method == "BYE"
    assert h.admission.ended == ["call-1"]
    assert h.proxy.dialog_count() == 0


def test_worker_hangs_up_toward_the_callers_flow() -> None:
    h = Harness()
    _established(h)
    worker_bye = request(
        "BYE",
        branch="z9hG4bK-wbye",
        cseq=7,
        to_tag="caller-tag",
        from_tag="worker-tag",
        uri="sip:+15551234@10.1.1.1:5062",  # the caller's private Contact: not where we send
        host="127.0.0.1:5070",
    )
    h.deliver(WORKER_FLOW, worker_bye)
    bye = h.network.take_one(CALLER)
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert bye.headers.get_all("Route") == []
    assert len(bye.vias) == 2 and bye.max_forwards == 69
    assert h.proxy.stats.requests["BYE"] == 1
    h.deliver(CALLER, answer(bye, 200))
    ok = h.network.take_one(WORKER_FLOW)
    assert isinstance(ok, SipResponse) and ok.status == 200 and len(ok.vias) == 1
    assert h.admission.ended == ["call-1"]


def test_invite_retransmissions_are_absorbed_while_admission_is_pending() -> None:
    h = Harness()
    h.admission.decision = None
    h.deliver(CALLER, invite())
    h.deliver(CALLER, invite())
    sent = h.network.take()
    assert [(f, m.status) for f, m in sent if isinstance(m, SipResponse)] == [
        (CALLER, 100),
        (CALLER, 100),
    ]
    assert len(h.admission.calls) == 1
    h.admission.pending[0].callback(RouteTo(WORKER_FLOW.address))
    assert isinstance(h.network.take_one(WORKER_FLOW), SipRequest)
    h.deliver(CALLER, invite())  # once forwarded: replayed 100, not forwarded again
    retrans = h.network.take_one(CALLER)
    assert isinstance(retrans, SipResponse) and retrans.status == 100
    assert h.proxy.stats.retransmissions_absorbed == 2


def test_silent_worker_gets_identical_retransmissions_then_caller_gets_408() -> None:
    h = Harness()
    fwd = _forwarded_invite(h)
    h.clock.advance(0.5)
    h.clock.advance(1.0)
    again = h.network.take()
    assert [f for f, _ in again] == [WORKER_FLOW, WORKER_FLOW]
    assert all(m.to_bytes() == fwd.to_bytes() for _, m in again)
    h.clock.advance(32)
    finals = [m for f, m in h.network.take() if f == CALLER]
    assert [m.status for m in finals if isinstance(m, SipResponse)] == [408]
    assert h.admission.ended == ["call-1"]


def test_worker_provisional_stops_retransmissions() -> None:
    h = Harness()
    fwd = _forwarded_invite(h)
    h.deliver(WORKER_FLOW, answer(fwd, 100))
    h.clock.advance(10)
    assert h.network.take() == []


def test_cancel_while_proceeding_is_forwarded_on_the_invites_branch() -> None:
    h = Harness()
    fwd = _forwarded_invite(h)
    h.deliver(CALLER, request("CANCEL", branch="z9hG4bK-inv-1", cseq=1, to_tag=None, route=None))
    cancel = h.network.take_one(WORKER_FLOW)
    assert isinstance(cancel, SipRequest) and cancel.method == "CANCEL"
    assert cancel.top_via.branch == fwd.top_via.branch
    h.deliver(WORKER_FLOW, answer(cancel, 200))
    cancel_ok = h.network.take_one(CALLER)
    assert isinstance(cancel_ok, SipResponse) and cancel_ok.cseq.method == "CANCEL"
    h.deliver(WORKER_FLOW, answer(fwd, 487))
    out = h.network.take()
    ack = next(m for f, m in out if f == WORKER_FLOW)
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.top_via.branch == fwd.top_via.branch and ack.to_tag == "worker-tag"
    terminated = next(m for f, m in out if f == CALLER)
    assert isinstance(terminated, SipResponse) and terminated.status == 487
    assert h.admission.ended == ["call-1"]
    # The worker's retransmitted 487 is ACKed again, the caller's ACK absorbed.
    h.deliver(WORKER_FLOW, answer(fwd, 487))
    assert isinstance(h.network.take_one(WORKER_FLOW), SipRequest)
    h.deliver(CALLER, request("ACK", branch="z9hG4bK-inv-1", cseq=1, route=None))
    assert h.network.take() == []


def test_cancel_while_admitting_answers_487_and_ends_after_the_decision() -> None:
    h = Harness()
    h.admission.decision = None
    h.deliver(CALLER, invite())
    h.network.take()
    h.deliver(CALLER, request("CANCEL", branch="z9hG4bK-inv-1", cseq=1, to_tag=None, route=None))
    statuses = sorted(
        (m.cseq.method, m.status) for _, m in h.network.take() if isinstance(m, SipResponse)
    )
    assert statuses == [("CANCEL", 200), ("INVITE", 487)]
    assert h.admission.ended == []
    h.admission.pending[0].callback(RouteTo(WORKER_FLOW.address))
    assert h.admission.ended == ["call-1"]
    assert h.network.take() == []  # nothing forwarded to the worker


def test_reject_reaches_caller_with_headers_and_is_retransmitted_until_ack() -> None:
    h = Harness()
    h.admission.decision = Reject(503, "No Capacity", {"Retry-After": "5"})
    h.deliver(CALLER, invite())
    out = [m for _, m in h.network.take() if isinstance(m, SipResponse)]
    assert [m.status for m in out] == [100, 503]
    assert out[1].reason == "No Capacity" and out[1].headers.get("Retry-After") == "5"
    assert out[1].to_tag
    assert h.admission.ended == ["call-1"]
    h.clock.advance(0.5)
    (again,) = h.network.take()
    assert again[1].to_bytes() == out[1].to_bytes()
    h.deliver(CALLER, invite())  # a retransmitted INVITE gets the same final answer
    assert h.network.take_one(CALLER).to_bytes() == out[1].to_bytes()
    h.deliver(
        CALLER, request("ACK", branch="z9hG4bK-inv-1", cseq=1, route=None, to_tag=out[1].to_tag)
    )
    h.clock.advance(10)
    assert h.network.take() == []
    assert h.proxy.stats.rejects[503] == 1


def test_tcp_caller_gets_double_record_route_and_requests_on_its_connection() -> None:
    h = Harness()
    tcp_caller = Flow("tcp", ("192.0.2.20", 40000))
    h.deliver(tcp_caller, invite(transport="TCP", host="192.0.2.20:5060"))
    out = h.network.take()
    fwd = next(m for f, m in out if f == WORKER_FLOW)
    assert fwd.headers.get_all("Record-Route") == [
        "<sip:127.0.0.1:5060;lr>",
        "<sip:127.0.0.1:5060;transport=tcp;lr>",
    ]
    assert fwd.vias[0].transport == "UDP"
    assert fwd.vias[1].response_address() == ("192.0.2.20", 40000)
    assert isinstance(fwd, SipRequest)
    h.deliver(WORKER_FLOW, answer(fwd, 200))
    ok = h.network.take_one(tcp_caller)
    assert isinstance(ok, SipResponse) and ok.status == 200
    h.deliver(
        WORKER_FLOW,
        request(
            "INFO", branch="z9hG4bK-info", to_tag="caller-tag", from_tag="w", host="127.0.0.1:5070"
        ),
    )
    info = h.network.take_one(tcp_caller)
    assert isinstance(info, SipRequest) and info.top_via.transport == "TCP"


def test_out_of_dialog_requests() -> None:
    h = Harness()

    def status_of(raw: bytes) -> SipResponse:
        h.deliver(CALLER, raw)
        response = h.network.take_one(CALLER)
        assert isinstance(response, SipResponse)
        return response

    options = status_of(request("OPTIONS", to_tag=None, route=None, uri="sip:127.0.0.1"))
    assert options.status == 200 and "INVITE" in (options.headers.get("Allow") or "")
    assert options.headers.get("Accept") == "application/sdp"
    assert status_of(request("REGISTER", to_tag=None, route=None)).status == 501
    message = status_of(request("MESSAGE", to_tag=None, route=None))
    assert message.status == 405 and message.headers.get("Allow")
    assert status_of(request("FROBNICATE", to_tag=None, route=None)).status == 501
    assert status_of(request("BYE", to_tag=None, route=None)).status == 481
    assert status_of(request("BYE", call_id="nope")).status == 481
    assert status_of(request("INFO", call_id="nope")).status == 481
    h.deliver(CALLER, request("ACK", call_id="nope"))
    assert h.network.take() == []


def test_register_can_be_handed_to_a_service() -> None:
    h = Harness()
    seen: list[str] = []

    def registrar(req: SipRequest, flow: Flow) -> SipResponse:
        seen.append(flow.address[0])
        return SipResponse(status=200, reason="OK", headers=req.headers.copy())

    h.proxy.add_method_service("REGISTER", registrar)
    h.deliver(CALLER, request("REGISTER", to_tag=None, route=None))
    response = h.network.take_one(CALLER)
    assert isinstance(response, SipResponse) and response.status == 200
    assert seen == ["192.0.2.10"]


def test_max_forwards_zero_and_loops() -> None:
    h = Harness()
    h.deliver(CALLER, request("OPTIONS", to_tag=None, route=None, max_forwards=0))
    too_many = h.network.take_one(CALLER)
    assert isinstance(too_many, SipResponse) and too_many.status == 483
    looped = invite(extra=f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={BRANCH_PREFIX}x\r\n")
    h.deliver(CALLER, looped)
    loop = h.network.take_one(CALLER)
    assert isinstance(loop, SipResponse) and loop.status == 482
    assert h.admission.calls == []


def test_malformed_requests_get_400_saying_why_and_garbage_is_dropped() -> None:
    h = Harness()
    broken = invite().replace(b"Max-Forwards: 70", b"Max-Forwards: many")
    h.deliver(CALLER, broken)
    bad = h.network.take_one(CALLER)
    assert isinstance(bad, SipResponse) and bad.status == 400
    assert bad.reason == "Bad Request (Max-Forwards: expected 0-255, got 'many')"
    h.deliver(CALLER, b"\x16\x03\x01\x02\x00garbage")
    assert h.network.take() == []
    assert h.proxy.stats.parse_errors == 2 and h.proxy.stats.dropped == 1
    _forwarded_invite(h)  # and it still serves the next call


def test_oversized_request_gets_513() -> None:
    h = Harness(FrontSettings(host="127.0.0.1", max_message_size=300))
    h.deliver(CALLER, invite())
    too_big = h.network.take_one(CALLER)
    assert isinstance(too_big, SipResponse) and too_big.status == 513


def test_abort_confirmed_dialog_sends_bye_to_caller_above_workers_cseq() -> None:
    h = Harness()
    _established(h)
    h.deliver(
        WORKER_FLOW,
        request("INFO", branch="z9hG4bK-w", cseq=41, to_tag="caller-tag", host="127.0.0.1:5070"),
    )
    h.network.take()
    h.proxy.abort_dialog("call-1", "worker 3 died")
    bye = h.network.take_one(CALLER)
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    assert bye.uri == "sip:+15551234@192.0.2.10:5062"  # the caller's Contact
    assert bye.cseq.number == 42
    assert bye.from_tag == "worker-tag" and bye.to_tag == "caller-tag"
    assert "worker 3 died" in (bye.headers.get("Reason") or "")
    assert h.admission.ended == ["call-1"] and h.proxy.dialog_count() == 0
    h.clock.advance(0.5)
    assert h.network.take_one(CALLER).to_bytes() == bye.to_bytes()  # UDP retransmission
    h.deliver(CALLER, answer(bye, 200))
    h.clock.advance(10)
    assert h.network.take() == []


def test_abort_pending_invite_answers_503() -> None:
    h = Harness()
    _forwarded_invite(h)
    h.proxy.abort_dialog("call-1", "worker died")
    final = h.network.take_one(CALLER)
    assert isinstance(final, SipResponse) and final.status == 503
    assert h.admission.ended == ["call-1"]


def test_stale_ringing_invite_is_cancelled_after_timer_c() -> None:
    h = Harness(FrontSettings(host="127.0.0.1", invite_timeout=60))
    fwd = _forwarded_invite(h)
    h.deliver(WORKER_FLOW, answer(fwd, 180))
    h.network.take()
    h.clock.advance(60)
    out = h.network.take()
    cancel = next(m for f, m in out if f == WORKER_FLOW)
    assert isinstance(cancel, SipRequest) and cancel.method == "CANCEL"
    final = next(m for f, m in out if f == CALLER)
    assert isinstance(final, SipResponse) and final.status == 408
    assert h.proxy.dialog_count() == 0


def test_flooding_source_is_limited_while_others_still_connect() -> None:
    settings = FrontSettings(
        host="127.0.0.1", invite_rate=1, invite_burst=3, reject_rate=1, reject_burst=2
    )
    h = Harness(settings)
    flooder = Flow("udp", ("127.0.0.2", 5099))
    for i in range(20):
        h.deliver(flooder, invite(call_id=f"flood-{i}", branch=f"z9hG4bK-f{i}"))
    out = [m for f, m in h.network.take() if f == flooder and isinstance(m, SipResponse)]
    assert [m.status for m in out].count(100) == 3
    rejected = [m for m in out if m.status == 503]
    assert len(rejected) == 2 and rejected[0].headers.get("Retry-After") == "1"
    assert h.proxy.stats.rate_limited == 17
    h.deliver(CALLER, invite(call_id="legit"))
    assert any(f == WORKER_FLOW for f, _ in h.network.take())
    h.clock.advance(1)
    h.deliver(flooder, invite(call_id="later", branch="z9hG4bK-later"))
    assert any(f == WORKER_FLOW for f, _ in h.network.take())


def test_random_mutations_never_crash_the_proxy() -> None:
    h = Harness()
    rng = random.Random(3261)
    seeds = [
        invite(),
        request("BYE"),
        request("OPTIONS", to_tag=None, route=None),
        answer(parse_message(invite()), 180).to_bytes(),  # type: ignore[arg-type]
    ]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, 20)]
            else:
                data[pos:pos] = rng.choice([b":", b";", b",", b"\r\n", b" ", b"<", b"\x00"])
        h.deliver(Flow("udp", (f"10.0.{rng.randrange(4)}.1", 5060)), bytes(data))
        h.clock.advance(0.05)
    assert h.proxy.stats.internal_errors == 0
