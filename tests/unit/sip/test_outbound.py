"""The front routes a worker's INVITE (an agent leg) to the agent's registered contact."""

from __future__ import annotations

from twisted.internet.defer import Deferred

from callcenter.sip.locator import Location, StaticLocator, Target, targets_from_bindings
from callcenter.sip.message import SipRequest, SipResponse
from callcenter.sip.proxy import BRANCH_PREFIX
from callcenter.sip.transport import Flow
from callcenter.store.registrations import Binding
from tests.unit.sip.fakes import CALLER, WORKER_FLOW, Harness, answer, invite, request

AGENT = Flow("udp", ("192.0.2.50", 40000))
AGENT_CONTACT = "sip:agent1@10.0.0.5:5062;ob"  # its private address: not where we send
LEG = "leg-sip-1"


def leg_invite(
    aor: str = "agent1", branch: str = "z9hG4bK-leg-1", call_id: str = LEG, cseq: int = 10
) -> bytes:
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    head = (
        f"INVITE sip:{aor}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch={branch}\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\n"
        'From: "Billing: +442079460000" <sip:+442079460000@127.0.0.1:5060>;tag=leg-tag\r\n'
        f"To: <sip:{aor}@127.0.0.1:5060>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        "Contact: <sip:media@127.0.0.1:5070>\r\n"
        "Max-Forwards: 70\r\n"
        "X-Queue: billing\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def harness(agent: Flow = AGENT) -> Harness:
    """A front with a caller's call on the worker (so the worker is known) and a locator."""
    h = Harness()
    h.proxy.set_contact_locator(
        StaticLocator({"agent1": [Target(AGENT_CONTACT, agent)], "agent2": []})
    )
    h.deliver(CALLER, invite())
    fwd = next(m for f, m in h.network.take() if f == WORKER_FLOW)
    assert isinstance(fwd, SipRequest)
    h.deliver(WORKER_FLOW, answer(fwd, 200))
    h.deliver(CALLER, request("ACK", cseq=1))
    h.network.take()
    return h


def offered(h: Harness, agent: Flow = AGENT) -> SipRequest:
    h.deliver(WORKER_FLOW, leg_invite())
    sent = h.network.take()
    trying = [m for f, m in sent if f == WORKER_FLOW]
    assert len(trying) == 1 and isinstance(trying[0], SipResponse) and trying[0].status == 100
    forwarded = [m for f, m in sent if f == agent]
    assert len(forwarded) == 1 and isinstance(forwarded[0], SipRequest)
    return forwarded[0]


def agent_request(method: str, cseq: int, branch: str) -> bytes:
    """An in-dialog request from the agent's phone toward the worker (via our Record-Route)."""
    lines = [
        f"{method} sip:media@127.0.0.1:5070 SIP/2.0",
        f"Via: SIP/2.0/UDP 10.0.0.5:5062;rport;branch={branch}",
        "Route: <sip:127.0.0.1:5060;lr>",
        "From: <sip:agent1@127.0.0.1:5060>;tag=agent-tag",
        'To: "Billing" <sip:+442079460000@127.0.0.1:5060>;tag=leg-tag',
        f"Call-ID: {LEG}",
        f"CSeq: {cseq} {method}",
        "Max-Forwards: 70",
    ]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def worker_request(method: str, cseq: int, branch: str) -> bytes:
    lines = [
        f"{method} {AGENT_CONTACT} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch={branch}",
        "Route: <sip:127.0.0.1:5060;lr>",
        'From: "Billing" <sip:+442079460000@127.0.0.1:5060>;tag=leg-tag',
        "To: <sip:agent1@127.0.0.1:5060>;tag=agent-tag",
        f"Call-ID: {LEG}",
        f"CSeq: {cseq} {method}",
        "Max-Forwards: 70",
    ]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def cancel_from_worker() -> bytes:
    return worker_request("CANCEL", 10, "z9hG4bK-leg-1").replace(b";tag=agent-tag", b"")


def test_the_workers_invite_goes_to_the_agents_flow_with_our_via_and_record_route() -> None:
    h = harness()
    fwd = offered(h)
    assert fwd.uri == AGENT_CONTACT
    assert fwd.headers.get_all("Route") == []
    assert fwd.headers.get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    top, worker_via = fwd.vias
    assert top.host == "127.0.0.1" and top.port == 5060
    assert (top.branch or "").startswith(BRANCH_PREFIX)
    assert worker_via.rport == 5070
    assert fwd.max_forwards == 69
    assert fwd.headers.get("X-Queue") == "billing"
    assert fwd.from_.display_name.strip('"') == "Billing: +442079460000"
    assert fwd.body.startswith(b"v=0")
    assert h.proxy.dialog_count() == 2


def test_ringing_answer_ack_and_the_agents_bye_flow_through_us() -> None:
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 100, to_tag="agent-tag"))
    assert h.network.take() == []  # hop by hop
    h.deliver(AGENT, answer(fwd, 180, to_tag="agent-tag"))
    ringing = h.network.take_one(WORKER_FLOW)
    assert isinstance(ringing, SipResponse) and ringing.status == 180 and len(ringing.vias) == 1
    h.deliver(AGENT, answer(fwd, 200, to_tag="agent-tag"))
    ok = h.network.take_one(WORKER_FLOW)
    assert isinstance(ok, SipResponse) and ok.status == 200
    assert ok.headers.get_all("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    h.deliver(WORKER_FLOW, worker_request("ACK", 10, "z9hG4bK-leg-ack"))
    ack = h.network.take_one(AGENT)
    assert isinstance(ack, SipRequest) and ack.method == "ACK" and ack.uri == AGENT_CONTACT
    assert ack.headers.get_all("Route") == []
    h.deliver(AGENT, agent_request("BYE", 1, "z9hG4bK-agent-bye"))
    bye = h.network.take_one(WORKER_FLOW)
    assert isinstance(bye, SipRequest) and bye.method == "BYE" and len(bye.vias) == 2
    h.deliver(WORKER_FLOW, answer(bye, 200))
    bye_ok = h.network.take_one(AGENT)  # its Via's received/rport: through its NAT
    assert isinstance(bye_ok, SipResponse) and bye_ok.cseq.method == "BYE"
    assert h.proxy.dialog_count() == 1  # the caller's call is still there


def test_the_agents_hold_reinvite_and_its_ack_reach_the_worker() -> None:
    """A phone putting the caller on hold re-INVITEs; its ACK must reach the worker too, or
    the worker keeps that transaction open and refuses the re-INVITE that resumes (500)."""
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 200, to_tag="agent-tag"))
    h.deliver(WORKER_FLOW, worker_request("ACK", 10, "z9hG4bK-leg-ack"))
    h.network.take()
    h.deliver(AGENT, agent_request("INVITE", 2, "z9hG4bK-agent-hold"))
    sent = h.network.take()
    reinvite = next(m for f, m in sent if f == WORKER_FLOW)
    assert isinstance(reinvite, SipRequest) and reinvite.method == "INVITE"
    h.deliver(WORKER_FLOW, answer(reinvite, 200))
    ok = h.network.take_one(AGENT)
    assert isinstance(ok, SipResponse) and ok.status == 200
    h.deliver(AGENT, agent_request("ACK", 2, "z9hG4bK-agent-hold-ack"))
    ack = h.network.take_one(WORKER_FLOW)
    assert isinstance(ack, SipRequest) and ack.method == "ACK" and ack.cseq.number == 2


def test_the_workers_bye_goes_to_the_agent() -> None:
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 200, to_tag="agent-tag"))
    h.deliver(WORKER_FLOW, worker_request("ACK", 10, "z9hG4bK-leg-ack"))
    h.network.take()
    h.deliver(WORKER_FLOW, worker_request("BYE", 11, "z9hG4bK-leg-bye"))
    bye = h.network.take_one(AGENT)
    assert isinstance(bye, SipRequest) and bye.method == "BYE"
    h.deliver(AGENT, answer(bye, 200, to_tag="agent-tag"))
    assert isinstance(h.network.take_one(WORKER_FLOW), SipResponse)
    assert h.proxy.dialog_count() == 1


def test_unknown_aor_404_no_binding_480_no_locator_403() -> None:
    h = harness()
    h.deliver(WORKER_FLOW, leg_invite(aor="nobody"))
    sent = [m for _, m in h.network.take()]
    assert [m.status for m in sent if isinstance(m, SipResponse)] == [100, 404]
    h.deliver(WORKER_FLOW, leg_invite(aor="agent2", call_id="leg-2"))
    sent = [m for _, m in h.network.take()]
    assert [m.status for m in sent if isinstance(m, SipResponse)] == [100, 480]
    assert h.proxy.stats.rejects[480] == 1
    h.proxy.set_contact_locator(None)
    h.deliver(WORKER_FLOW, leg_invite(call_id="leg-3"))
    (only,) = [m for _, m in h.network.take()]
    assert isinstance(only, SipResponse) and only.status == 403


def test_a_caller_cannot_use_the_outbound_route() -> None:
    h = harness()
    h.deliver(CALLER, leg_invite(call_id="from-outside"))
    assert h.admission.calls[-1].did == "agent1"  # an ordinary inbound call: admission decides


def test_the_agents_refusal_is_acked_by_us_and_passed_to_the_worker() -> None:
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 486, to_tag="agent-tag"))
    sent = h.network.take()
    (ack,) = [m for f, m in sent if f == AGENT]
    (busy,) = [m for f, m in sent if f == WORKER_FLOW]
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.top_via.branch == fwd.top_via.branch and ack.to_tag == "agent-tag"
    assert isinstance(busy, SipResponse) and busy.status == 486
    h.deliver(WORKER_FLOW, worker_request("ACK", 10, "z9hG4bK-leg-1"))
    assert h.network.take() == []  # absorbed
    h.deliver(AGENT, answer(fwd, 486, to_tag="agent-tag"))  # its retransmission
    assert [f for f, _ in h.network.take()] == [AGENT]  # ACKed again
    assert h.proxy.dialog_count() == 1
    h.clock.advance(64 * 0.5)
    assert h.proxy.dialog_count() == 1
    assert LEG not in h.proxy._outbound  # the tombstone is gone after 64*T1


def test_worker_retransmissions_get_our_last_answer_until_acked() -> None:
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 180, to_tag="agent-tag"))
    h.network.take()
    h.deliver(WORKER_FLOW, leg_invite())
    again = h.network.take_one(WORKER_FLOW)
    assert isinstance(again, SipResponse) and again.status == 180
    h.deliver(AGENT, answer(fwd, 603, to_tag="agent-tag"))
    h.network.take()
    h.clock.advance(0.5)  # Timer G: the worker has not ACKed yet
    replay = h.network.take_one(WORKER_FLOW)
    assert isinstance(replay, SipResponse) and replay.status == 603
    h.deliver(WORKER_FLOW, worker_request("ACK", 10, "z9hG4bK-leg-1"))
    h.clock.advance(4)
    assert h.network.take() == []


def test_cancel_while_ringing_is_forwarded_and_the_487_comes_back() -> None:
    h = harness()
    fwd = offered(h)
    h.deliver(AGENT, answer(fwd, 180, to_tag="agent-tag"))
    h.network.take()
    h.deliver(WORKER_FLOW, cancel_from_worker())
    sent = h.network.take()
    (cancel_ok,) = [m for f, m in sent if f == WORKER_FLOW]
    (cancel,) = [m for f, m in sent if f == AGENT]
    assert isinstance(cancel_ok, SipResponse) and cancel_ok.status == 200
    assert isinstance(cancel, SipRequest) and cancel.method == "CANCEL"
    assert cancel.uri == AGENT_CONTACT and cancel.top_via.branch == fwd.top_via.branch
    assert len(cancel.vias) == 1
    h.deliver(AGENT, answer(cancel, 200, to_tag="agent-tag"))
    assert h.network.take() == []
    h.deliver(AGENT, answer(fwd, 487, to_tag="agent-tag"))
    sent = h.network.take()
    assert [(f, m.status if isinstance(m, SipResponse) else m.method) for f, m in sent] == [
        (AGENT, "ACK"),
        (WORKER_FLOW, 487),
    ]


def test_cancel_before_the_phone_said_anything_ends_at_once() -> None:
    h = harness()
    offered(h)
    h.deliver(WORKER_FLOW, cancel_from_worker())
    sent = h.network.take()
    statuses = [m.status for f, m in sent if f == WORKER_FLOW and isinstance(m, SipResponse)]
    assert statuses == [200, 487]
    assert [m.method for f, m in sent if f == AGENT and isinstance(m, SipRequest)] == ["CANCEL"]


def test_cancel_while_the_locator_is_still_looking() -> None:
    h = harness()
    pending: list[Deferred[Location]] = []

    class Slow:
        def locate(self, aor: str) -> Deferred[Location]:
            d: Deferred[Location] = Deferred()
            pending.append(d)
            return d

    h.proxy.set_contact_locator(Slow())
    h.deliver(WORKER_FLOW, leg_invite())
    h.network.take()
    h.deliver(WORKER_FLOW, cancel_from_worker())
    statuses = [m.status for _, m in h.network.take() if isinstance(m, SipResponse)]
    assert statuses == [200, 487]
    pending[0].callback([Target(AGENT_CONTACT, AGENT)])
    assert h.network.take() == []  # too late: nothing goes to the phone


def test_a_silent_udp_phone_gets_retransmissions_then_the_worker_a_408() -> None:
    h = harness()
    offered(h)
    h.clock.advance(0.5)
    assert [f for f, _ in h.network.take()] == [AGENT]
    h.clock.advance(1.0)
    assert [f for f, _ in h.network.take()] == [AGENT]
    h.clock.advance(64 * 0.5)
    statuses = [m.status for f, m in h.network.take() if isinstance(m, SipResponse)]
    assert 408 in statuses


def test_a_tcp_agent_gets_a_tcp_via_and_two_record_routes() -> None:
    tcp_agent = Flow("tcp", ("192.0.2.60", 50000))
    h = harness(agent=tcp_agent)
    fwd = offered(h, agent=tcp_agent)
    assert fwd.top_via.transport.upper() == "TCP"
    assert fwd.headers.get_all("Record-Route") == [
        "<sip:127.0.0.1:5060;transport=tcp;lr>",
        "<sip:127.0.0.1:5060;lr>",
    ]
    h.clock.advance(2)
    assert h.network.take() == []  # TCP is reliable: no retransmissions from us


def test_bindings_become_targets_most_recent_first() -> None:
    def binding(contact: str, at: float, transport: str = "udp") -> Binding:
        return Binding(
            aor="agent1",
            contact=contact,
            expires_at=at + 3600,
            call_id="c",
            cseq=1,
            transport=transport,
            source_host="203.0.113.9",
            source_port=int(at),
            registered_at=at,
        )

    targets = targets_from_bindings([binding("sip:old@x", 100), binding("sip:new@y", 200, "tcp")])
    assert targets == [
        Target("sip:new@y", Flow("tcp", ("203.0.113.9", 200))),
        Target("sip:old@x", Flow("udp", ("203.0.113.9", 100))),
    ]
