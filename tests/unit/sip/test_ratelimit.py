"""Per-source token buckets with a hand-driven clock."""

from __future__ import annotations

from callcenter.sip.ratelimit import SourceRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate_per_source() -> None:
    time = FakeTime()
    limiter = SourceRateLimiter(time, rate=2, burst=3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 1
    assert limiter.allow("b")  # another source is not affected
    time.now += 0.5
    assert limiter.allow("a")
    assert not limiter.allow("a")
    time.now += 100
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_zero_rate_disables_and_memory_is_bounded() -> None:
    time = FakeTime()
    assert all(SourceRateLimiter(time, rate=0, burst=1).allow("a") for _ in range(100))
    limiter = SourceRateLimiter(time, rate=1, burst=1, max_sources=2)
    for source in ("a", "b", "c"):
        assert limiter.allow(source)
    assert len(limiter) == 2
    assert limiter.allow("a")  # "a" was forgotten: starts with a full bucket again
    assert not limiter.allow("c")
