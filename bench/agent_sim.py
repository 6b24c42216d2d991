"""N simulated agent softphones on one UDP socket, for the bridged-call benchmark.

``python -m bench.agent_sim --registrar 127.0.0.1:5060 --agents 100 --password secret123``

One asyncio process, one SIP socket on 127.0.0.1 and one RTP socket. Each agent
(``agent001``, ``agent002``…) REGISTERs with digest auth (MD5, ``qop=auth``) from the shared SIP
socket, so the registrar's flow for every agent is that socket and every INVITE to an agent
comes back here. Each INVITE is answered like a softphone: ``180`` at once, ``200 OK`` with a
PCMU SDP after ``--answer-after`` seconds (retransmitted until the ACK), and while the call
lasts a silence packet every 20 ms (``--rtp silence``), an echo of what arrives
(``--rtp echo``) or nothing (``--rtp none``). BYE gets ``200``; CANCEL ``200`` and ``487``;
re-INVITE ``200`` with the same SDP (the RTP target follows the new offer).

Protocol on stdout, one JSON object a line: ``{"event": "ready", ...}`` once every agent is
registered (or ``{"event": "error", ...}``), then, on SIGTERM or SIGINT, ``{"event": "stats",
...}`` with the counters of :class:`Stats` and the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from callcenter.sip.digest import MD5, compute_response, parse_auth_params
from callcenter.sip.fields import parse_uri
from callcenter.sip.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_for,
)

Address = tuple[str, int]

T1 = 0.5  # RFC 3261 timers for the 200 OK retransmission
T2 = 4.0
PCMU_SILENCE = b"\xff" * 160  # 20 ms of PCMU at 8 kHz
REGISTER_EXPIRES = 3600


@dataclass
class Stats:
    agents: int = 0
    registered: int = 0
    register_failures: int = 0
    invites: int = 0  # new INVITEs (retransmissions not counted)
    answered: int = 0  # 200 OK sent
    confirmed: int = 0  # ACK received for the 200 OK
    ack_timeouts: int = 0  # 200 OK never ACKed
    byes: int = 0
    cancels: int = 0
    reinvites: int = 0
    other_requests: int = 0
    concurrent: int = 0
    max_concurrent: int = 0
    double_booked: int = 0  # an INVITE for an agent already ringing or talking
    parse_errors: int = 0
    rtp_sent: int = 0
    rtp_received: int = 0
    per_agent_max: dict[str, int] = field(default_factory=dict)


@dataclass
class Call:
    call_id: str
    agent: str
    invite: SipRequest
    to_tag: str
    reply_to: Address
    rtp_target: Address | None
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    timestamp: int = field(default_factory=lambda: random.getrandbits(32))
    last_response: SipResponse | None = None
    answer_handle: asyncio.TimerHandle | None = None
    retransmit_handle: asyncio.TimerHandle | None = None
    answered: bool = False
    confirmed: bool = False
    ended: bool = False


def parse_sdp_target(body: bytes) -> Address | None:
    """The audio ``c=`` address and ``m=`` port of an SDP offer, or None."""
    host: str | None = None
    port: int | None = None
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c="):  # the media-level one (after m=) wins over the session's
            parts = line[2:].split()
            if len(parts) == 3:
                host = parts[2]
        elif line.startswith("m=audio "):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                port = int(parts[1])
    if host is None or port is None or port == 0:
        return None
    return host, port


def sdp_answer(host: str, rtp_port: int, version: int) -> bytes:
    lines = [
        "v=0",
        f"o=agentsim 1 {version} IN IP4 {host}",
        "s=agentsim",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def agent_ids(count: int, prefix: str = "agent") -> list[str]:
    return [f"{prefix}{n:03d}" for n in range(1, count + 1)]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable after a peer went away: not ours to report


class AgentSimulator:
    """The agents' phones; :meth:`start` binds, :meth:`register_all` registers them."""

    def __init__(
        self,
        registrar: Address,
        agents: list[str],
        password: str,
        *,
        host: str = "127.0.0.1",
        answer_after: float = 0.5,
        rtp_mode: str = "silence",
        realm_uri: str | None = None,
    ) -> None:
        self.registrar = registrar
        self.agents = agents
        self.password = password
        self.host = host
        self.answer_after = answer_after
        self.rtp_mode = rtp_mode
        self.register_uri = realm_uri or f"sip:{registrar[0]}:{registrar[1]}"
        self.stats = Stats(agents=len(agents))
        self.calls: dict[str, Call] = {}
        self._busy: dict[str, int] = {}
        self._ended: dict[str, float] = {}  # recently ended Call-IDs: retransmissions
        self._pending: dict[str, asyncio.Future[SipResponse]] = {}  # REGISTER Call-ID → reply
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtp_task: asyncio.Task[None] | None = None
        self.sip_port = 0
        self.rtp_port = 0
        self._sdp_version = 1

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sip, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_sip), local_addr=(self.host, 0)
        )
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._on_rtp), local_addr=(self.host, 0)
        )
        self._sip, self._rtp = sip, rtp
        self.sip_port = sip.get_extra_info("sockname")[1]
        self.rtp_port = rtp.get_extra_info("sockname")[1]
        if self.rtp_mode == "silence":
            self._rtp_task = asyncio.create_task(self._send_silence())

    def close(self) -> None:
        if self._rtp_task is not None:
            self._rtp_task.cancel()
        for call in self.calls.values():
            self._cancel_timers(call)
        if self._sip is not None:
            self._sip.close()
        if self._rtp is not None:
            self._rtp.close()

    # --- registration -----------------------------------------------------------------------

    async def register_all(self, concurrency: int = 20, timeout: float = 5.0) -> None:
        """Register every agent (``concurrency`` at a time); failures are counted."""
        semaphore = asyncio.Semaphore(concurrency)

        async def one(agent: str) -> None:
            async with semaphore:
                ok = await self.register(agent, timeout)
                if ok:
                    self.stats.registered += 1
                else:
                    self.stats.register_failures += 1

        await asyncio.gather(*(one(agent) for agent in self.agents))

    async def register(self, agent: str, timeout: float = 5.0) -> bool:
        call_id = f"reg-{agent}-{secrets.token_hex(6)}"
        first = await self._send_register(agent, call_id, 1, None, timeout)
        if first is None:
            return False
        if first.status == 200:
            return True
        if first.status != 401:
            return False
        challenge = self._md5_challenge(first)
        if challenge is None:
            return False
        cnonce = secrets.token_hex(8)
        response = compute_response(
            MD5,
            username=agent,
            realm=challenge["realm"],
            password=self.password,
            method="REGISTER",
            uri=self.register_uri,
            nonce=challenge["nonce"],
            qop="auth",
            nc="00000001",
            cnonce=cnonce,
        )
        value = (
            f'Digest username="{agent}", realm="{challenge["realm"]}", '
            f'nonce="{challenge["nonce"]}", uri="{self.register_uri}", response="{response}", '
            f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"'
        )
        if "opaque" in challenge:
            value += f', opaque="{challenge["opaque"]}"'
        second = await self._send_register(agent, call_id, 2, value, timeout)
        return second is not None and second.status == 200

    @staticmethod
    def _md5_challenge(response: SipResponse) -> dict[str, str] | None:
        for value in response.headers.get_all("WWW-Authenticate"):
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() != "digest":
                continue
            params = parse_auth_params(rest)
            if params.get("algorithm", MD5).upper() == MD5:
                return params
        return None

    async def _send_register(
        self, agent: str, call_id: str, cseq: int, authorization: str | None, timeout: float
    ) -> SipResponse | None:
        headers = Headers()
        headers.add(
            "Via",
            f"SIP/2.0/UDP {self.host}:{self.sip_port};branch=z9hG4bK{secrets.token_hex(8)};rport",
        )
        headers.add("Max-Forwards", "70")
        registrar_host = f"{self.registrar[0]}:{self.registrar[1]}"
        headers.add("From", f"<sip:{agent}@{registrar_host}>;tag={secrets.token_hex(4)}")
        headers.add("To", f"<sip:{agent}@{registrar_host}>")
        headers.add("Call-ID", call_id)
        headers.add("CSeq", f"{cseq} REGISTER")
        headers.add("Contact", f"<sip:{agent}@{self.host}:{self.sip_port}>")
        headers.add("Expires", str(REGISTER_EXPIRES))
        if authorization is not None:
            headers.add("Authorization", authorization)
        headers.add("User-Agent", "bench-agent-sim/1.0")
        request = SipRequest(method="REGISTER", uri=self.register_uri, headers=headers)
        data = request.to_bytes()
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            deadline = time.monotonic() + timeout
            interval = T1
            while time.monotonic() < deadline:
                self._send(data, self.registrar)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), interval)
                except TimeoutError:
                    interval = min(interval * 2, T2)
            return None
        finally:
            self._pending.pop(call_id, None)

    # --- SIP in ----------------------------------------------------------------------------------

    def _send(self, data: bytes, address: Address) -> None:
        assert self._sip is not None
        self._sip.sendto(data, address)

    def _on_sip(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError:
            self.stats.parse_errors += 1
            return
        if isinstance(message, SipResponse):
            future = self._pending.get(message.call_id)
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        try:
            self._on_request(message, addr)
        except SipParseError:
            self.stats.parse_errors += 1

    def _on_request(self, request: SipRequest, addr: Address) -> None:
        method = request.method
        call = self.calls.get(request.call_id)
        if method == "INVITE":
            if call is None:
                self._new_invite(request, addr)
            elif request.to_tag is None:
                if call.last_response is not None:  # retransmitted INVITE
                    self._send(call.last_response.to_bytes(), call.reply_to)
            else:
                self._reinvite(call, request, addr)
        elif method == "ACK":
            if call is not None and call.answered and not call.confirmed:
                call.confirmed = True
                self.stats.confirmed += 1
                if call.retransmit_handle is not None:
                    call.retransmit_handle.cancel()
                    call.retransmit_handle = None
        elif method == "BYE":
            self._reply(request, addr, 200)
            if call is not None and not call.ended:
                self.stats.byes += 1
                self._end(call)
        elif method == "CANCEL":
            self._reply(request, addr, 200)
            if call is not None and not call.answered and not call.ended:
                self.stats.cancels += 1
                terminated = response_for(call.invite, 487, to_tag=call.to_tag)
                call.last_response = terminated
                self._send(terminated.to_bytes(), call.reply_to)
                self._end(call, keep=True)
        else:
            self.stats.other_requests += 1
            self._reply(request, addr, 200)

    def _reply(self, request: SipRequest, addr: Address, status: int) -> None:
        to_tag = None if request.to_tag else secrets.token_hex(4)
        response = response_for(request, status, to_tag=to_tag)
        self._send(response.to_bytes(), _reply_address(request, addr))

    # --- calls ---------------------------------------------------------------------------------

    def _new_invite(self, invite: SipRequest, addr: Address) -> None:
        if invite.call_id in self._ended:
            return  # a late retransmission of a call we already finished
        self.stats.invites += 1
        agent = _agent_of(invite)
        busy = self._busy.get(agent, 0)
        if busy:
            self.stats.double_booked += 1
        self._busy[agent] = busy + 1
        self.stats.per_agent_max[agent] = max(self.stats.per_agent_max.get(agent, 0), busy + 1)
        call = Call(
            call_id=invite.call_id,
            agent=agent,
            invite=invite,
            to_tag=secrets.token_hex(6),
            reply_to=_reply_address(invite, addr),
            rtp_target=parse_sdp_target(invite.body),
        )
        self.calls[call.call_id] = call
        self.stats.concurrent += 1
        self.stats.max_concurrent = max(self.stats.max_concurrent, self.stats.concurrent)
        ringing = self._response(call, 180)
        call.last_response = ringing
        self._send(ringing.to_bytes(), call.reply_to)
        loop = asyncio.get_running_loop()
        call.answer_handle = loop.call_later(self.answer_after, self._answer, call)

    def _response(self, call: Call, status: int, body: bytes = b"") -> SipResponse:
        headers: list[tuple[str, str]] = [
            ("Record-Route", value) for value in call.invite.headers.get_all("Record-Route")
        ]
        headers.append(("Contact", f"<sip:{call.agent}@{self.host}:{self.sip_port}>"))
        headers.append(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return response_for(call.invite, status, headers=headers, to_tag=call.to_tag, body=body)

    def _answer(self, call: Call) -> None:
        call.answer_handle = None
        if call.ended:
            return
        self._sdp_version += 1
        ok = self._response(call, 200, sdp_answer(self.host, self.rtp_port, self._sdp_version))
        call.last_response = ok
        call.answered = True
        self.stats.answered += 1
        self._send(ok.to_bytes(), call.reply_to)
        self._schedule_retransmit(call, ok.to_bytes(), T1, time.monotonic() + 64 * T1)

    def _schedule_retransmit(self, call: Call, data: bytes, interval: float, until: float) -> None:
        def again() -> None:
            call.retransmit_handle = None
            if call.confirmed or call.ended:
                return
            if time.monotonic() >= until:
                self.stats.ack_timeouts += 1
                return
            self._send(data, call.reply_to)
            self._schedule_retransmit(call, data, min(interval * 2, T2), until)

        call.retransmit_handle = asyncio.get_running_loop().call_later(interval, again)

    def _reinvite(self, call: Call, request: SipRequest, addr: Address) -> None:
        self.stats.reinvites += 1
        target = parse_sdp_target(request.body)
        if target is not None:
            call.rtp_target = target
        self._sdp_version += 1
        body = sdp_answer(self.host, self.rtp_port, self._sdp_version) if request.body else b""
        headers = [("Contact", f"<sip:{call.agent}@{self.host}:{self.sip_port}>")]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        ok = response_for(request, 200, headers=headers, body=body)
        self._send(ok.to_bytes(), _reply_address(request, addr))

    def _end(self, call: Call, keep: bool = False) -> None:
        call.ended = True
        self._cancel_timers(call)
        self.stats.concurrent -= 1
        self._busy[call.agent] = max(0, self._busy.get(call.agent, 0) - 1)
        now = time.monotonic()
        self._ended[call.call_id] = now
        if not keep:
            self.calls.pop(call.call_id, None)
        else:  # answer retransmitted INVITEs/CANCELs for a while, then forget
            asyncio.get_running_loop().call_later(32.0, self.calls.pop, call.call_id, None)
        if len(self._ended) > 10000:
            for old in [k for k, t in self._ended.items() if now - t > 60.0]:
                del self._ended[old]

    @staticmethod
    def _cancel_timers(call: Call) -> None:
        for handle in (call.answer_handle, call.retransmit_handle):
            if handle is not None:
                handle.cancel()
        call.answer_handle = call.retransmit_handle = None

    # --- RTP -----------------------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: Address) -> None:
        self.stats.rtp_received += 1
        if self.rtp_mode == "echo" and self._rtp is not None:
            self._rtp.sendto(data, addr)
            self.stats.rtp_sent += 1

    async def _send_silence(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += 0.02
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
            if self._rtp is None:
                continue
            for call in self.calls.values():
                if not call.answered or call.ended or call.rtp_target is None:
                    continue
                header = struct.pack(
                    "!BBHII", 0x80, 0, call.seq & 0xFFFF, call.timestamp & 0xFFFFFFFF, call.ssrc
                )
                call.seq += 1
                call.timestamp += 160
                self._rtp.sendto(header + PCMU_SILENCE, call.rtp_target)
                self.stats.rtp_sent += 1


def _agent_of(invite: SipRequest) -> str:
    try:
        user = parse_uri(invite.uri).user
    except SipParseError:
        user = ""
    return user or (invite.to.uri if invite.headers.get("To") else "?")


def _reply_address(request: SipRequest, addr: Address) -> Address:
    """Responses go where the top Via says (with rport: where the request came from)."""
    via = request.top_via
    if via.wants_rport or via.received:
        return via.response_address() if via.received else (addr[0], via.rport or addr[1])
    return via.response_address()


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _main(args: argparse.Namespace) -> int:
    host, _, port = args.registrar.rpartition(":")
    simulator = AgentSimulator(
        (host, int(port)),
        agent_ids(args.agents, args.prefix),
        args.password,
        answer_after=args.answer_after,
        rtp_mode=args.rtp,
    )
    await simulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    await simulator.register_all()
    stats = simulator.stats
    if stats.register_failures:
        _emit({"event": "error", "error": "registration failed", **asdict(stats)})
    else:
        _emit(
            {
                "event": "ready",
                "registered": stats.registered,
                "seconds": round(time.monotonic() - started, 3),
                "sip_port": simulator.sip_port,
                "rtp_port": simulator.rtp_port,
                "pid": os.getpid(),
            }
        )
    await stop.wait()
    simulator.close()
    result = asdict(simulator.stats)
    result["per_agent_max"] = max(simulator.stats.per_agent_max.values(), default=0)
    _emit({"event": "stats", **result})
    return 0 if not stats.register_failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_sim")
    parser.add_argument("--registrar", required=True, help="host:port of the SIP front")
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--prefix", default="agent", help="agent ids: <prefix>001, ...")
    parser.add_argument("--password", required=True)
    parser.add_argument("--answer-after", type=float, default=0.5, help="seconds of ringing")
    parser.add_argument("--rtp", choices=("silence", "echo", "none"), default="silence")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
