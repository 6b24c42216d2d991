"""Counters of the SIP front, read by health checks and metrics.

-*- test-case-name: tests.unit.sip.test_proxy -*-
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FrontStats:
    requests: Counter[str] = field(default_factory=Counter)
    """Requests received, by method (counted after parsing and rate limiting)."""
    rejects: Counter[int] = field(default_factory=Counter)
    """Error responses (>= 300) the front generated itself, by status code."""
    rate_limited: int = 0
    parse_errors: int = 0
    dropped: int = 0
    """Messages ignored: stray responses, ACKs for nothing, unroutable, oversized garbage."""
    retransmissions_absorbed: int = 0
    aborted: int = 0
    internal_errors: int = 0

    def as_dict(self, dialogs: int) -> dict[str, object]:
        return {
            "dialogs": dialogs,
            "requests": dict(self.requests),
            "rejects": dict(self.rejects),
            "rate_limited": self.rate_limited,
            "parse_errors": self.parse_errors,
            "dropped": self.dropped,
            "retransmissions_absorbed": self.retransmissions_absorbed,
            "aborted": self.aborted,
            "internal_errors": self.internal_errors,
        }
