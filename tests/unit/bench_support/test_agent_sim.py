"""The agent simulator's SIP dialogue, against a hand-driven UDP peer (no service).

A fake registrar challenges and checks the MD5 digest; a fake proxy sends INVITE/ACK/BYE and
INVITE/CANCEL and reads what a softphone must answer: 180, 200 with SDP, Record-Route copied,
Contact; 200 to BYE; 200 to CANCEL and 487 to the INVITE.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest_twisted

from bench.agent_sim import AgentSimulator, Stats, parse_sdp_target, sdp_answer
from callcenter.aio import as_deferred
from callcenter.sip.digest import MD5, compute_response, parse_authorization
from callcenter.sip.message import Headers, SipRequest, SipResponse, parse_message, response_for

Address = tuple[str, int]
OFFER = b"v=0\r\no=w 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + (
    b"m=audio 40000 RTP/AVP 0\r\n"
)


def in_task(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Any]:
    @functools.wraps(test)
    async def wrapper() -> None:
        await as_deferred(test())

    return pytest_twisted.ensureDeferred(wrapper)  # type: ignore[no-any-return]


class Peer(asyncio.DatagramProtocol):
    """A UDP socket whose datagrams land in a queue of parsed messages."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[SipRequest | SipResponse, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.inbox.put_nowait((parse_message(data), addr))

    async def next(self) -> tuple[SipRequest | SipResponse, Address]:
        return await asyncio.wait_for(self.inbox.get(), 5)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def send(self, message: SipRequest | SipResponse, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(message.to_bytes(), to)


async def _peer() -> Peer:
    _, peer = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=("127.0.0.1", 0)
    )
    return peer


def _request(method: str, peer: Peer, call_id: str, cseq: int, **extra: str) -> SipRequest:
    headers = Headers()
    host, port = peer.address
    headers.add("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK{call_id}{cseq}{method};rport")
    headers.add("Record-Route", f"<sip:{host}:{port};lr>")
    headers.add("From", f"<sip:caller@{host}>;tag=f-{call_id}")
    headers.add("To", "<sip:agent001@127.0.0.1>" + extra.pop("to_tag", ""))
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} {extra.pop('cseq_method', method)}")
    headers.add("Contact", f"<sip:worker@{host}:{port}>")
    body = b""
    if method == "INVITE":
        headers.add("Content-Type", "application/sdp")
        body = OFFER
    return SipRequest(method=method, uri="sip:agent001@127.0.0.1", headers=headers, body=body)


def test_sdp_target_and_answer() -> None:
    assert parse_sdp_target(OFFER) == ("127.0.0.1", 40000)
    assert parse_sdp_target(sdp_answer("127.0.0.1", 4000, 2)) == ("127.0.0.1", 4000)
    assert parse_sdp_target(b"v=0\r\n") is None


@in_task
async def test_registers_with_an_md5_digest() -> None:
    registrar = await _peer()
    sim = AgentSimulator(registrar.address, ["agent001"], "secret-pass", rtp_mode="none")
    await sim.start()
    try:
        registering = asyncio.ensure_future(sim.register_all())
        first, addr = await registrar.next()
        assert isinstance(first, SipRequest) and first.method == "REGISTER"
        challenge = 'Digest realm="callcenter", nonce="n1", opaque="o1", algorithm=MD5, qop="auth"'
        registrar.send(response_for(first, 401, headers=[("WWW-Authenticate", challenge)]), addr)
        second, addr = await registrar.next()
        assert isinstance(second, SipRequest)
        answer = parse_authorization(second.headers.get("Authorization") or "")
        expected = compute_response(
            MD5, username="agent001", realm="callcenter", password="secret-pass",
            method="REGISTER", uri=second.uri, nonce="n1", qop="auth", nc=answer.nc,
            cnonce=answer.cnonce,
        )  # fmt: skip
        assert answer.response == expected and answer.opaque == "o1"
        assert second.headers.get("Contact") == f"<sip:agent001@127.0.0.1:{sim.sip_port}>"
        registrar.send(response_for(second, 200), addr)
        await asyncio.wait_for(registering, 5)
        assert (sim.stats.registered, sim.stats.register_failures) == (1, 0)
    finally:
        sim.close()


@in_task
async def test_answers_an_invite_then_bye_and_cancels_a_ringing_one() -> None:
    proxy = await _peer()
    sim = AgentSimulator(proxy.address, ["agent001"], "x", answer_after=0.05, rtp_mode="none")
    await sim.start()
    here = ("127.0.0.1", sim.sip_port)
    try:
        proxy.send(_request("INVITE", proxy, "c1", 1), here)
        ringing, _ = await proxy.next()
        ok, _ = await proxy.next()
        assert isinstance(ringing, SipResponse) and ringing.status == 180
        assert isinstance(ok, SipResponse) and ok.status == 200
        assert ok.to_tag and ok.to_tag == ringing.to_tag
        assert ok.headers.get_all("Record-Route") == [
            f"<sip:{proxy.address[0]}:{proxy.address[1]};lr>"
        ]
        assert ok.headers.get("Contact") == f"<sip:agent001@127.0.0.1:{sim.sip_port}>"
        assert parse_sdp_target(ok.body) == ("127.0.0.1", sim.rtp_port)
        tag = f";tag={ok.to_tag}"
        proxy.send(_request("ACK", proxy, "c1", 1, to_tag=tag), here)
        proxy.send(_request("BYE", proxy, "c1", 2, to_tag=tag), here)
        bye_ok, _ = await proxy.next()
        assert isinstance(bye_ok, SipResponse) and (bye_ok.status, bye_ok.cseq.method) == (
            200,
            "BYE",
        )

        sim.answer_after = 30
        proxy.send(_request("INVITE", proxy, "c2", 1), here)
        ringing, _ = await proxy.next()
        assert isinstance(ringing, SipResponse) and ringing.status == 180
        proxy.send(_request("CANCEL", proxy, "c2", 1), here)
        statuses = set()
        for _ in range(2):
            response, _ = await proxy.next()
            assert isinstance(response, SipResponse)
            statuses.add((response.status, response.cseq.method))
        assert statuses == {(200, "CANCEL"), (487, "INVITE")}
        stats: Stats = sim.stats
        assert (stats.invites, stats.answered, stats.confirmed, stats.byes, stats.cancels) == (
            2, 1, 1, 1, 1,
        )  # fmt: skip
        assert stats.concurrent == 0 and stats.max_concurrent == 1
    finally:
        sim.close()
