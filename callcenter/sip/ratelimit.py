"""Token buckets per source IP, so one flooding peer cannot starve the others.

Pure: the clock is a callable returning seconds, so tests drive time by hand. Memory is
bounded: past ``max_sources`` the least recently seen source is forgotten (a forgotten source
starts again with a full bucket, which only ever errs on the side of letting traffic in).

-*- test-case-name: tests.unit.sip.test_ratelimit -*-
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float, cost: float = 1.0) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def seconds_until(self, cost: float = 1.0) -> float:
        """How long until ``cost`` tokens are there (as of the last ``take``)."""
        missing = cost - self.tokens
        return 0.0 if missing <= 0 or self.rate <= 0 else missing / self.rate


class SourceRateLimiter:
    """One :class:`TokenBucket` per key (a source IP). A rate of 0 or less disables limiting."""

    def __init__(
        self,
        clock: Callable[[], float],
        rate: float,
        burst: float,
        max_sources: int = 10000,
    ) -> None:
        self._clock = clock
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._max_sources = max_sources
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when it is over its rate."""
        if not self.enabled:
            return True
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst, self._burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def retry_after(self, key: str) -> int:
        """Whole seconds a refused ``key`` should wait before its next token (at least 1)."""
        bucket = self._buckets.get(key)
        wait = bucket.seconds_until() if bucket is not None else 0.0
        return max(1, int(wait + 0.999))

    def __len__(self) -> int:
        return len(self._buckets)
