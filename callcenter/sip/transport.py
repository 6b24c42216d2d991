"""UDP and TCP listeners of the SIP front, and the one seam the proxy sends through.

The proxy never touches a socket: it receives ``(bytes, Flow)`` and calls
``Network.send(flow, bytes)``. A :class:`Flow` names the peer as we saw it (transport and
source address), which is what reaches a caller behind NAT; over TCP it maps to the live
connection that peer opened. Unit tests replace :class:`Network` with a recording fake.

-*- test-case-name: tests.integration.sip.test_front_sipp -*-
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.internet.protocol import Protocol as StreamProtocol
from twisted.python.failure import Failure

from callcenter.sip.message import SipParseError, StreamFramer

log = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(frozen=True)
class Flow:
    """A peer as the network showed it: ``"udp"`` or ``"tcp"`` and its source address."""

    transport: str
    address: Address

    def __str__(self) -> str:
        return f"{self.transport}:{self.address[0]}:{self.address[1]}"


class Network(Protocol):
    def send(self, flow: Flow, data: bytes) -> bool:
        """Send ``data`` to the peer; False when it cannot be reached (TCP closed)."""


class MessageSink(Protocol):
    def message_received(self, data: bytes, flow: Flow) -> None:
        """One whole message (datagram, or a framed part of a stream)."""

    def stream_error(self, flow: Flow, reason: str) -> None:
        """A TCP stream could not be framed; its connection is being closed."""


class SipDatagramProtocol(DatagramProtocol):
    def __init__(self, sink: MessageSink) -> None:
        self._sink = sink

    def datagramReceived(self, datagram: bytes, addr: Address) -> None:  # noqa: N802
        if datagram.strip(b"\r\n\x00 ") == b"":
            return  # NAT keep-alive
        self._sink.message_received(datagram, Flow("udp", (addr[0], addr[1])))

    def send(self, data: bytes, addr: Address) -> bool:
        transport: Any = self.transport
        if transport is None:
            return False
        try:
            transport.write(data, addr)
        except OSError as exc:
            log.warning("UDP send to %s:%d failed: %s", addr[0], addr[1], exc)
            return False
        return True


class SipStreamProtocol(StreamProtocol):
    """One TCP connection: frames messages, registers itself for sending back."""

    def __init__(self, factory: SipStreamFactory, max_size: int) -> None:
        self._factory = factory
        self._framer = StreamFramer(max_size)
        self.flow: Flow | None = None

    @property
    def _stream(self) -> Any:
        # ITCPTransport; typed loosely because zope interfaces do not type-check as protocols.
        return self.transport

    def connectionMade(self) -> None:  # noqa: N802
        peer = self._stream.getPeer()
        self.flow = Flow("tcp", (str(peer.host), int(peer.port)))
        self._factory.connections[self.flow.address] = self

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        assert self.flow is not None
        pings = self._framer.pings
        try:
            messages = self._framer.feed(data)
        except SipParseError as exc:
            self._factory.sink.stream_error(self.flow, exc.reason)
            self._stream.loseConnection()
            return
        if self._framer.pings > pings:
            self._stream.write(b"\r\n")  # RFC 5626 pong
        for message in messages:
            self._factory.sink.message_received(message, self.flow)

    def connectionLost(self, reason: Failure | None = None) -> None:  # noqa: N802
        if self.flow is not None and self._factory.connections.get(self.flow.address) is self:
            del self._factory.connections[self.flow.address]

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def abort(self) -> None:
        self._stream.abortConnection()


class SipStreamFactory(Factory):
    def __init__(self, sink: MessageSink, max_size: int) -> None:
        self.sink = sink
        self.max_size = max_size
        self.connections: dict[Address, SipStreamProtocol] = {}

    def buildProtocol(self, addr: IAddress | None) -> SipStreamProtocol:  # noqa: N802
        return SipStreamProtocol(self, self.max_size)


class TwistedNetwork:
    """:class:`Network` over the front's own UDP port and accepted TCP connections.

    We never open outbound TCP: requests toward a TCP caller reuse the connection it opened
    (RFC 5923-style connection reuse), which is also what gets through NAT.
    """

    def __init__(self, udp: SipDatagramProtocol | None, tcp: SipStreamFactory | None) -> None:
        self._udp = udp
        self._tcp = tcp

    def send(self, flow: Flow, data: bytes) -> bool:
        if flow.transport == "udp" and self._udp is not None:
            return self._udp.send(data, flow.address)
        if flow.transport == "tcp" and self._tcp is not None:
            connection = self._tcp.connections.get(flow.address)
            if connection is None:
                log.info("no TCP connection to %s any more; message dropped", flow)
                return False
            connection.write(data)
            return True
        return False
