"""Estimated wait and position announcements for callers in a queue.

Formula (documented here because callers hear its result)::

    AHT  = mean of the last K handle times of the queue (talk + wrap-up)
    S    = agents staffed: members of the queue that are logged in
           (any state but offline; paused agents are expected back)
    A    = of those, agents available right now
    EWT(N) = 0                          if N <= A
           = (N - A) * AHT / S          otherwise
           = unknown (None)             if S == 0 or there is no AHT yet

The caller at position N needs N - A agents to free up before it; S busy
agents free up on average one every AHT / S seconds. It ignores agents
shared with other queues and the skills a particular caller needs, so it is
an estimate for announcements, not a promise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from callcenter.domain.routing.agents import AgentSnapshot, Status
from callcenter.domain.routing.policy import queue_score
from callcenter.domain.routing.queues import WaitingCall


@dataclass(frozen=True)
class HandleTimes:
    """The last ``size`` handle times of a queue, oldest first (a moving window)."""

    size: int = 20
    samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a handle-time window holds at least one sample")
        if len(self.samples) > self.size:
            object.__setattr__(self, "samples", self.samples[-self.size :])

    def record(self, seconds: float) -> HandleTimes:
        """The window after one more call was handled in ``seconds``."""
        if seconds < 0:
            raise ValueError("a handle time cannot be negative")
        return HandleTimes(self.size, (*self.samples, seconds))

    def average(self) -> float | None:
        """Mean handle time over the window; None before the first call."""
        return sum(self.samples) / len(self.samples) if self.samples else None


def staffed_count(agents: Iterable[AgentSnapshot], queue: str) -> int:
    """Members of ``queue`` that are logged in (S in the formula)."""
    return sum(
        1 for a in agents if queue in a.agent.queues and a.state.status is not Status.OFFLINE
    )


def available_count(agents: Iterable[AgentSnapshot], queue: str) -> int:
    """Members of ``queue`` that could be offered a call now (A in the formula)."""
    return sum(
        1
        for a in agents
        if queue in a.agent.queues and a.registered and a.state.status is Status.AVAILABLE
    )


def estimated_wait(
    position: int, average_handle_seconds: float | None, staffed: int, available: int = 0
) -> float | None:
    """EWT in seconds for the caller at 1-based ``position``; None when unknown."""
    if position < 1:
        raise ValueError("positions start at 1")
    if staffed <= 0 or average_handle_seconds is None:
        return None
    ahead = position - available
    if ahead <= 0:
        return 0.0
    return ahead * average_handle_seconds / staffed


def queue_position(call: WaitingCall, waiting: Iterable[WaitingCall]) -> int:
    """1-based place of ``call`` in its queue, in the order routing serves it."""
    mine = (queue_score(call), call.call_id)
    ahead = sum(
        1
        for other in waiting
        if other.queue == call.queue
        and other.call_id != call.call_id
        and (queue_score(other), other.call_id) < mine
    )
    return ahead + 1


@dataclass(frozen=True)
class WaitAnnouncement:
    """What to tell a caller: its position and the wait in whole minutes.

    ``minutes`` is rounded up and at least 1 ("about one minute" beats "zero
    minutes"); None means do not announce a time. With ``more_than`` the
    caller hears "more than ``minutes`` minutes".
    """

    position: int
    minutes: int | None
    more_than: bool = False


def wait_announcement(
    position: int, estimate_seconds: float | None, cap_minutes: int = 30
) -> WaitAnnouncement:
    """Round an estimate for speaking; waits beyond ``cap_minutes`` are announced as more."""
    if estimate_seconds is None:
        return WaitAnnouncement(position, None)
    minutes = max(1, math.ceil(estimate_seconds / 60))
    if minutes > cap_minutes:
        return WaitAnnouncement(position, cap_minutes, more_than=True)
    return WaitAnnouncement(position, minutes)


def announcement_due(last_announced_at: float | None, now: float, every_seconds: float) -> bool:
    """True when a caller should hear its position again (never announced counts as due)."""
    return last_announced_at is None or now - last_announced_at >= every_seconds
