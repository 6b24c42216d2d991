"""Fake network and admission for driving the proxy logic without sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from callcenter.sip.admission import Admission, InboundCall, RouteTo
from callcenter.sip.message import SipMessage, SipRequest, SipResponse, parse_message
from callcenter.sip.proxy import SipProxy
from callcenter.sip.settings import FrontSettings
from callcenter.sip.transport import Flow

FRONT = ("127.0.0.1", 5060)
WORKER = ("127.0.0.1", 5070)
CALLER = Flow("udp", ("192.0.2.10", 5062))
WORKER_FLOW = Flow("udp", WORKER)


@dataclass
class FakeNetwork:
    sent: list[tuple[Flow, bytes]] = field(default_factory=list)
    closed: set[Flow] = field(default_factory=set)

    def send(self, flow: Flow, data: bytes) -> bool:
        if flow in self.closed:
            return False
        self.sent.append((flow, data))
        return True

    def take(self) -> list[tuple[Flow, SipMessage]]:
        out = [(flow, parse_message(data)) for flow, data in self.sent]
        self.sent.clear()
        return out

    def take_one(self, flow: Flow) -> SipMessage:
        out = self.take()
        assert [f for f, _ in out] == [flow], out
        return out[0][1]


@dataclass
class FakeAdmission:
    decision: Admission | None = field(default_factory=lambda: RouteTo(WORKER))
    calls: list[InboundCall] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    pending: list[Deferred[Admission]] = field(default_factory=list)

    def admit(self, call: InboundCall) -> Admission | Deferred[Admission]:
        self.calls.append(call)
        if self.decision is None:
            d: Deferred[Admission] = Deferred()
            self.pending.append(d)
            return d
        return self.decision

    def dialog_ended(self, call_id: str) -> None:
        self.ended.append(call_id)


class Harness:
    def __init__(self, settings: FrontSettings | None = None) -> None:
        self.clock = Clock()
        self.network = FakeNetwork()
        self.admission = FakeAdmission()
        self.settings = settings or FrontSettings(host="127.0.0.1", port=5060)
        self.proxy = SipProxy(self.clock, self.network, self.settings, self.admission)

    def deliver(self, flow: Flow, data: bytes | SipMessage) -> None:
        raw = data if isinstance(data, bytes) else data.to_bytes()
        self.proxy.message_received(raw, flow)


def invite(
    call_id: str = "call-1",
    branch: str = "z9hG4bK-inv-1",
    did: str = "100",
    caller: str = "+15551234",
    transport: str = "UDP",
    host: str = "192.0.2.10:5062",
    extra: str = "",
) -> bytes:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    head = (
        f"INVITE sip:{did}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host};branch={branch};rport\r\n"
        f'From: "Alice" <sip:{caller}@trunk.example>;tag=caller-tag\r\n'
        f"To: <sip:{did}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{caller}@{host}>\r\n"
        f"Max-Forwards: 70\r\n"
        f"{extra}"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def request(
    method: str,
    call_id: str = "call-1",
    branch: str = "z9hG4bK-req-1",
    cseq: int = 2,
    to_tag: str | None = "worker-tag",
    route: str | None = "<sip:127.0.0.1:5060;lr>",
    uri: str = "sip:127.0.0.1:5070",
    host: str = "192.0.2.10:5062",
    transport: str = "UDP",
    from_tag: str = "caller-tag",
    max_forwards: int = 70,
) -> bytes:
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host};branch={branch}",
        f"From: <sip:+15551234@trunk.example>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Max-Forwards: {max_forwards}",
    ]
    if route:
        lines.append(f"Route: {route}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def answer(forwarded: SipRequest, status: int, to_tag: str = "worker-tag") -> SipResponse:
    """What a worker answers to a request the proxy forwarded to it."""
    response = SipResponse(status=status, reason="X", headers=forwarded.headers.copy())
    for name in ("Max-Forwards", "Route", "Content-Type", "Record-Route", "Contact"):
        response.headers.remove(name)
    if status > 100 and forwarded.to_tag is None:
        response.headers.set("To", f"{forwarded.headers.get('To')};tag={to_tag}")
    if 200 <= status < 300:
        response.headers.add("Contact", "<sip:127.0.0.1:5070>")
        for rr in forwarded.headers.get_all("Record-Route"):
            response.headers.add("Record-Route", rr)
    return response
