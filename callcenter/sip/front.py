"""The SIP front: listens on UDP and TCP and hands every message to the proxy logic.

This is the piece the controller wires in: ``SipFront(reactor, settings, admission)``,
``start()``, ``stop()``. The routing decisions live in :mod:`callcenter.sip.proxy`, the
sockets in :mod:`callcenter.sip.transport`.

-*- test-case-name: tests.integration.sip.test_front_sipp -*-
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IListeningPort

from callcenter.sip.admission import CallAdmission
from callcenter.sip.locator import ContactLocator
from callcenter.sip.proxy import MethodService, SipProxy
from callcenter.sip.settings import FrontSettings
from callcenter.sip.transport import (
    Flow,
    SipDatagramProtocol,
    SipStreamFactory,
    TwistedNetwork,
)

log = logging.getLogger(__name__)

__all__ = ["FrontSettings", "SipFront"]


class SipFront:
    """The service's SIP face. ``reactor`` must provide IReactorUDP, IReactorTCP, IReactorTime."""

    def __init__(
        self,
        reactor: Any,
        settings: FrontSettings,
        admission: CallAdmission,
        locator: ContactLocator | None = None,
    ) -> None:
        self._reactor = reactor
        self.settings = settings
        self._udp = SipDatagramProtocol(self) if settings.udp else None
        self._tcp = SipStreamFactory(self, settings.max_message_size) if settings.tcp else None
        network = TwistedNetwork(self._udp, self._tcp)
        self.proxy = SipProxy(reactor, network, settings, admission, locator)
        self._ports: list[IListeningPort] = []

    # MessageSink, called by the transports.
    def message_received(self, data: bytes, flow: Flow) -> None:
        self.proxy.message_received(data, flow)

    def stream_error(self, flow: Flow, reason: str) -> None:
        self.proxy.stream_error(flow, reason)

    def start(self) -> None:
        """Listen on ``settings.host:settings.port`` (UDP and/or TCP). Raises if in use."""
        host, port = self.settings.host, self.settings.port
        if self._udp is not None:
            self._ports.append(self._reactor.listenUDP(port, self._udp, interface=host))
        if self._tcp is not None:
            self._ports.append(self._reactor.listenTCP(port, self._tcp, interface=host))
        log.info("SIP front listening on %s:%d", host, port)

    def stop(self) -> Deferred[None]:
        """Stop listening, close TCP connections, cancel timers. Dialog state is dropped."""
        self.proxy.close()
        waits: list[Deferred[object]] = []
        for port in self._ports:
            listening: Any = port
            waits.append(maybeDeferred(listening.stopListening))
        self._ports = []
        if self._tcp is not None:
            for connection in list(self._tcp.connections.values()):
                connection.abort()
        done: Deferred[None] = DeferredList(waits).addCallback(lambda _: None)
        return done

    def abort_dialog(self, call_id: str, reason: str) -> None:
        """A worker died: BYE the caller of a confirmed dialog, or 503 a pending INVITE."""
        self.proxy.abort_dialog(call_id, reason)

    def dialog_count(self) -> int:
        return self.proxy.dialog_count()

    def stats(self) -> dict[str, object]:
        return self.proxy.stats_dict()

    def set_contact_locator(self, locator: ContactLocator | None) -> None:
        """Route the media workers' INVITEs (agent legs) to the contacts ``locator`` finds."""
        self.proxy.set_contact_locator(locator)

    def add_method_service(self, method: str, service: MethodService) -> None:
        """Let ``service`` answer out-of-dialog ``method`` requests (e.g. the registrar)."""
        self.proxy.add_method_service(method, service)
