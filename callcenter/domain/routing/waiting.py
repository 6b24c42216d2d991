"""What a caller waiting in a queue hears, and when it leaves the queue without an agent.

Pure rules, driven by the adapter in ``callcenter.routing.waiting`` with the reactor clock:

- **announcements**: the first one ``announce_first_seconds`` after the caller joined, then every
  ``announce_every_seconds`` (:func:`next_announcement_at`); the text says the position and/or
  the estimated wait (:func:`announcement_text`, numbers from ``estimates``);
- **leaving without an agent** (:func:`overflow_decision`): at the queue's maximum wait, on
  joining a queue nobody is logged in to (``join_when_empty: false``), or when the last agent
  logs out (``leave_when_empty: true``), the caller moves to the overflow queue, or hears a
  message and is hung up, or (``hangup: false``, no queue) hears the message and stays.

A call never overflows into a queue it has already been in: that would let two queues bounce
a caller between them forever, so such a move becomes the hang-up with the message.

-*- test-case-name: tests.unit.routing.test_waiting -*-
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from callcenter.domain.routing.errors import RoutingConfigError
from callcenter.domain.routing.estimates import wait_announcement

TIMEOUT_MESSAGE = "All our agents are still busy. Please call again later. Goodbye."
EMPTY_MESSAGE = "Sorry, nobody is available to take your call right now. Please call again later."


class LeaveReason(StrEnum):
    """Why a caller leaves its queue before an agent answered (the ``reason`` of the event)."""

    MAX_WAIT = "max-wait"  # waited the queue's max_wait_seconds
    EMPTY_ON_JOIN = "no-agents"  # join_when_empty: false and nobody logged in
    EMPTIED = "agents-left"  # leave_when_empty: true and the last agent logged out


@dataclass(frozen=True)
class Overflow:
    """Where a caller goes when it leaves: another ``queue``, or ``message`` then hang-up.

    With a ``queue`` the message (if any) is spoken before the move. Without one, ``hangup``
    false means: speak the message and keep waiting (for a maximum wait only; an empty queue
    is left with a hang-up in any case, since nobody would ever answer).
    """

    queue: str | None = None
    message: str | None = None
    hangup: bool = True
    flow: str | None = None  # continue in this IVR flow instead (e.g. a voicemail menu)
    node: str | None = None


@dataclass(frozen=True)
class QueueExperience:
    """A queue's settings for what its callers experience while they wait."""

    announce_position: bool = False
    announce_wait: bool = False
    announce_first_seconds: float = 30.0
    announce_every_seconds: float = 60.0
    overflow: Overflow | None = None
    join_when_empty: bool = True
    leave_when_empty: bool = False

    def __post_init__(self) -> None:
        if self.announce_first_seconds < 0:
            raise RoutingConfigError("announce_first_seconds cannot be negative")
        if self.announce_every_seconds <= 0:
            raise RoutingConfigError("announce_every_seconds must be positive")

    @property
    def announces(self) -> bool:
        return self.announce_position or self.announce_wait


def next_announcement_at(
    queued_at: float, last_announced_at: float | None, experience: QueueExperience
) -> float | None:
    """When the caller should next hear its position/wait; None when the queue never says."""
    if not experience.announces:
        return None
    if last_announced_at is None:
        return queued_at + experience.announce_first_seconds
    return last_announced_at + experience.announce_every_seconds


def announcement_text(
    position: int | None, estimate_seconds: float | None, experience: QueueExperience
) -> str | None:
    """The sentence(s) to speak, or None (ringing an agent, or nothing known worth saying).

    An unknown estimate (nobody staffed, no handle times yet) is left out rather than guessed.
    """
    if position is None:
        return None
    parts = []
    if experience.announce_position:
        parts.append(f"You are number {position} in the queue.")
    if experience.announce_wait:
        said = wait_announcement(position, estimate_seconds)
        if said.minutes is not None:
            unit = "minute" if said.minutes == 1 else "minutes"
            amount = "one" if said.minutes == 1 else str(said.minutes)
            how = "more than" if said.more_than else "about"
            parts.append(f"Your estimated wait is {how} {amount} {unit}.")
    return " ".join(parts) or None


@dataclass(frozen=True)
class MoveTo:
    """Move the caller to ``queue`` (after speaking ``message`` if given)."""

    queue: str
    message: str | None


@dataclass(frozen=True)
class HangUp:
    """Speak ``message``, then hang up."""

    message: str


@dataclass(frozen=True)
class Stay:
    """Speak ``message`` and keep waiting."""

    message: str | None


@dataclass(frozen=True)
class ToFlow:
    """Leave the queue for an IVR flow (from ``node``, or its start)."""

    flow: str
    node: str | None


LeaveDecision = MoveTo | HangUp | Stay | ToFlow


def overflow_decision(
    experience: QueueExperience, reason: LeaveReason, visited: Collection[str]
) -> LeaveDecision:
    """What happens to a caller leaving a queue for ``reason``.

    ``visited`` holds every queue the call has been in (the current one included).
    """
    overflow = experience.overflow or Overflow()
    default = TIMEOUT_MESSAGE if reason is LeaveReason.MAX_WAIT else EMPTY_MESSAGE
    if overflow.flow is not None:
        return ToFlow(overflow.flow, overflow.node)
    if overflow.queue is not None and overflow.queue not in visited:
        return MoveTo(overflow.queue, overflow.message)
    if overflow.queue is None and not overflow.hangup and reason is LeaveReason.MAX_WAIT:
        return Stay(overflow.message)
    return HangUp(overflow.message or default)


def may_join(experience: QueueExperience, staffed: int) -> bool:
    """Whether a caller may join a queue with ``staffed`` agents logged in."""
    return experience.join_when_empty or staffed > 0


def must_leave(experience: QueueExperience, staffed: int) -> bool:
    """Whether waiting callers must leave a queue with ``staffed`` agents logged in."""
    return experience.leave_when_empty and staffed == 0
