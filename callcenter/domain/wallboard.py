"""What a wallboard shows: per-queue figures, per-agent rows, and when a tile turns amber or red.

Pure: the live reader (``callcenter.live.snapshot``) hands in what it read from Redis and gets
back the figures a supervisor looks at. The tile colour is decided here, on the server, so the
page, the JSON API and the tests agree on one rule: a tile takes the worst level any of its
figures reaches (waiting calls, longest wait, service level when the KPI book knows it).
Longest wait grows by itself while nothing happens, so :func:`next_level_change` says when
the next threshold will be crossed and the feed refreshes at that moment rather than polling.

-*- test-case-name: tests.unit.live.test_wallboard -*-
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from callcenter.domain.routing import AgentSnapshot, Status
from callcenter.domain.routing.policy import PRIORITY_SPAN

#: States in which an agent is busy with a call (ringing, talking, after-call work).
BUSY = frozenset({Status.RESERVED, Status.ON_CALL, Status.WRAP_UP})


class Level(StrEnum):
    """A tile's colour, also its CSS class on the page."""

    OK = "ok"
    AMBER = "amber"
    RED = "red"


_RANK = {Level.OK: 0, Level.AMBER: 1, Level.RED: 2}


@dataclass(frozen=True)
class Thresholds:
    """Where a queue's tile turns amber and red (reached or passed: ``>=``; service level: below).

    ``None`` for a service-level threshold means it is not checked.
    """

    waiting_amber: int = 5
    waiting_red: int = 10
    longest_wait_amber_seconds: float = 20.0
    longest_wait_red_seconds: float = 40.0
    service_level_amber: float | None = 80.0
    service_level_red: float | None = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.waiting_amber <= self.waiting_red:
            raise ValueError("waiting_amber must be between 0 and waiting_red")
        if not 0 <= self.longest_wait_amber_seconds <= self.longest_wait_red_seconds:
            raise ValueError("longest_wait_amber_seconds must be between 0 and the red one")
        amber, red = self.service_level_amber, self.service_level_red
        for value in (amber, red):
            if value is not None and not 0 <= value <= 100:
                raise ValueError("service-level thresholds are percentages (0-100)")
        if amber is not None and red is not None and red > amber:
            raise ValueError("service_level_red must not be above service_level_amber")


@dataclass(frozen=True)
class QueueKpi:
    """Today's figures from the KPI book; ``None`` while unknown (shown as a dash)."""

    service_level: float | None = None  # percent
    answered: int | None = None
    abandoned: int | None = None


UNKNOWN_KPI = QueueKpi()


@dataclass(frozen=True)
class QueueLive:
    """One queue right now: its waiting calls and the state of its member agents."""

    name: str
    waiting: int
    oldest_entered_at: float | None
    members: int
    staffed: int  # logged in (any state but offline)
    available: int  # available and registered: could be offered a call now
    busy: int  # ringing, on a call or in wrap-up
    paused: int
    by_status: Mapping[str, int] = field(default_factory=dict)

    def longest_wait(self, now: float) -> float | None:
        """Seconds the longest-waiting caller has waited; None when nobody waits."""
        if self.oldest_entered_at is None:
            return None
        return max(0.0, now - self.oldest_entered_at)


@dataclass(frozen=True)
class AgentLive:
    """One agent's row on the grid."""

    id: str
    name: str
    status: Status
    reason: str | None
    since: float
    registered: bool
    call_id: str | None
    queue: str | None
    queues: tuple[str, ...]

    @classmethod
    def of(cls, snapshot: AgentSnapshot) -> AgentLive:
        state = snapshot.state
        return cls(
            id=snapshot.id,
            name=snapshot.agent.name,
            status=state.status,
            reason=state.reason,
            since=state.since,
            registered=snapshot.registered,
            call_id=state.call_id,
            queue=state.queue,
            queues=tuple(snapshot.agent.queues),
        )


@dataclass(frozen=True)
class Tile:
    """A queue's level and the figures that set it (e.g. ``"longest wait >= 40 s"``)."""

    level: Level
    reasons: tuple[str, ...]


def entered_at_of(score: float) -> float:
    """A waiting call's entry time from its queue score (``policy.queue_score``).

    The score is ``entered_at - priority * PRIORITY_SPAN`` with ``0 <= entered_at <
    PRIORITY_SPAN``, so the remainder gives the entry time back: the longest wait of a queue
    can be read from one sorted-set range, without reading every call's hash.
    """
    return score % PRIORITY_SPAN


def queue_live(name: str, entered_ats: Iterable[float], agents: Sequence[AgentLive]) -> QueueLive:
    """Figures of queue ``name`` from its waiting calls' entry times and every agent."""
    times = list(entered_ats)
    members = [a for a in agents if name in a.queues]
    by_status = {str(status): 0 for status in Status}
    for agent in members:
        by_status[str(agent.status)] += 1
    return QueueLive(
        name=name,
        waiting=len(times),
        oldest_entered_at=min(times) if times else None,
        members=len(members),
        staffed=sum(1 for a in members if a.status is not Status.OFFLINE),
        available=sum(1 for a in members if a.registered and a.status is Status.AVAILABLE),
        busy=sum(1 for a in members if a.status in BUSY),
        paused=by_status[str(Status.PAUSED)],
        by_status=MappingProxyType(by_status),
    )


def live_queues(
    entered_ats: Mapping[str, Iterable[float]], agents: Sequence[AgentLive]
) -> dict[str, QueueLive]:
    """:func:`queue_live` for every queue named in ``entered_ats``, agents grouped once (a
    board of hundreds of queues and agents must not scan every agent per queue)."""
    members: dict[str, list[AgentLive]] = {name: [] for name in entered_ats}
    for agent in agents:
        for name in agent.queues:
            if name in members:
                members[name].append(agent)
    return {name: queue_live(name, times, members[name]) for name, times in entered_ats.items()}


def tile(queue: QueueLive, kpi: QueueKpi, limits: Thresholds, now: float) -> Tile:
    """The worst level any figure of ``queue`` reaches, with the figures that reached it."""
    found: list[tuple[Level, str]] = []
    if queue.waiting >= limits.waiting_red:
        found.append((Level.RED, f"waiting {queue.waiting} >= {limits.waiting_red}"))
    elif queue.waiting >= limits.waiting_amber and queue.waiting > 0:
        found.append((Level.AMBER, f"waiting {queue.waiting} >= {limits.waiting_amber}"))
    wait = queue.longest_wait(now)
    if wait is not None:  # the reason leaves out the wait itself: it would change every second
        if wait >= limits.longest_wait_red_seconds:
            found.append((Level.RED, f"longest wait >= {limits.longest_wait_red_seconds:g} s"))
        elif wait >= limits.longest_wait_amber_seconds:
            found.append((Level.AMBER, f"longest wait >= {limits.longest_wait_amber_seconds:g} s"))
    sl = kpi.service_level
    if sl is not None:
        if limits.service_level_red is not None and sl < limits.service_level_red:
            found.append((Level.RED, f"service level {sl:.0f}% < {limits.service_level_red:g}%"))
        elif limits.service_level_amber is not None and sl < limits.service_level_amber:
            found.append(
                (Level.AMBER, f"service level {sl:.0f}% < {limits.service_level_amber:g}%")
            )
    level = max((lvl for lvl, _ in found), key=_RANK.__getitem__, default=Level.OK)
    return Tile(level, tuple(reason for lvl, reason in found if lvl is level))


def next_level_change(queue: QueueLive, limits: Thresholds, now: float) -> float | None:
    """When the longest wait will next cross a threshold (the only figure that moves by
    itself); None when nobody waits or it is past the red one already."""
    if queue.oldest_entered_at is None:
        return None
    for limit in (limits.longest_wait_amber_seconds, limits.longest_wait_red_seconds):
        at = queue.oldest_entered_at + limit
        if at > now:
            return at
    return None


Row = Mapping[str, object]


@dataclass(frozen=True)
class Changes:
    """Rows that differ between two boards (by key), and the keys that went away."""

    changed: Mapping[str, Row]
    removed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)


def changes(before: Mapping[str, Row], after: Mapping[str, Row]) -> Changes:
    """What to send a page that shows ``before`` so that it shows ``after``.

    Rows are compared whole: a wallboard row is small, and most pushes touch a handful of the
    hundreds on screen, so a diff keyed by row is what keeps a big board cheap to update.
    """
    changed = {key: row for key, row in after.items() if before.get(key) != row}
    removed = tuple(sorted(key for key in before if key not in after))
    return Changes(changed, removed)
