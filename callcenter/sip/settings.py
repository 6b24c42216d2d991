"""Settings of the SIP front, with defaults that suit one controller on one host.

-*- test-case-name: tests.unit.sip.test_proxy -*-
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrontSettings:
    """Everything the SIP front needs to know; loaded once by the app and passed in."""

    host: str = "0.0.0.0"
    """Interface to listen on (UDP and TCP)."""
    port: int = 5060
    public_host: str | None = None
    """Host put in our Via and Record-Route; callers and workers must reach it. Defaults to
    ``host``, or ``127.0.0.1`` when ``host`` is a wildcard."""
    udp: bool = True
    tcp: bool = True
    max_message_size: int = 65535
    """Larger messages are refused: ``513`` when we can answer, else dropped."""
    t1: float = 0.5
    """RFC 3261 T1 (round-trip estimate); retransmission and timeout timers derive from it."""
    t2: float = 4.0
    invite_timeout: float = 180.0
    """Timer C: a forwarded INVITE with no final answer this long is cancelled (408)."""
    max_dialog_seconds: float = 12 * 3600.0
    """A dialog older than this is forgotten (both ends vanished without BYE)."""
    request_rate: float = 200.0
    """Requests per second per source IP (all methods; 0 disables). Over it: silent drop."""
    request_burst: float = 400.0
    invite_rate: float = 20.0
    """New dialogs (initial INVITEs) per second per source IP (0 disables)."""
    invite_burst: float = 40.0
    reject_rate: float = 2.0
    """``503`` answers per second per source IP to over-limit INVITEs; beyond: silent drop."""
    reject_burst: float = 10.0
    rate_limit_sources: int = 10000
    """Source IPs tracked by each limiter (least recently seen forgotten first)."""
    server_name: str = "callcenter"
    """``Server``/``User-Agent`` value on messages the front itself creates."""

    @property
    def via_host(self) -> str:
        if self.public_host:
            return self.public_host
        if self.host in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return self.host
