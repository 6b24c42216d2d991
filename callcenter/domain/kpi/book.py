"""KpiBook: facts in, KPI figures per queue and overall for a window out.

Fed incrementally (every fact once, in about the order they happened) and asked at any time:
``book.queue_kpis("support", Window.HOUR, now)``, ``book.all_queues(window, now)``,
``book.overall(window, now)``. What it keeps, so that a day of calls stays cheap:

- per queue, a running :class:`Tally` of today (restarted at local midnight) and the facts of
  the last hour (for the rolling windows), each counted by the time it happened: offered when
  queued, answered when connected, handled when its wrap-up ended;
- per agent, its current state and since when, the seconds spent in each state today, and
  the intervals of the last hour; occupancy clips them to the window, the current state
  counting up to ``now``.

Occupancy of a queue is over the queue's member agents (``members``); overall over every agent.

-*- test-case-name: tests.unit.kpi.test_book -*-
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from callcenter.domain.kpi.definitions import (
    QueueTargets,
    ServiceLevelFormula,
    Tally,
    abandon_rate,
    average_handle_time,
    average_speed_of_answer,
    occupancy,
    service_level,
)
from callcenter.domain.kpi.facts import (
    Abandoned,
    AgentStatus,
    Answered,
    Fact,
    Handled,
    LeftQueue,
    Queued,
    QueueFact,
)
from callcenter.domain.kpi.windows import LONGEST_ROLLING_SECONDS, Window, day_start, window_start

#: Agent states that count as handling calls, and as ready for one (occupancy).
BUSY_STATES = frozenset({"on-call", "wrap-up"})
READY_STATES = frozenset({"available", "reserved"})


@dataclass(frozen=True)
class Kpis:
    """The figures of one queue (``queue`` None: all queues) over one window, at ``at``."""

    queue: str | None
    window: Window
    at: float
    tally: Tally
    service_level: float | None
    service_level_seconds: float | None
    service_level_target: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    abandon_rate: float | None
    occupancy: float | None

    def as_json(self) -> dict[str, Any]:
        t = self.tally
        return {
            "queue": self.queue,
            "window": self.window.value,
            "at": self.at,
            "offered": t.offered,
            "answered": t.answered,
            "answered_within_threshold": t.answered_within,
            "abandoned": t.abandoned,
            "short_abandons": t.short_abandons,
            "left_queue": t.left,
            "handled": t.handled,
            "service_level": _rounded(self.service_level, 4),
            "service_level_seconds": self.service_level_seconds,
            "service_level_target": self.service_level_target,
            "asa_seconds": _rounded(self.asa_seconds, 3),
            "aht_seconds": _rounded(self.aht_seconds, 3),
            "abandon_rate": _rounded(self.abandon_rate, 4),
            "occupancy": _rounded(self.occupancy, 4),
        }


@dataclass
class _Queue:
    day: float = float("-inf")
    today: Tally = field(default_factory=Tally)
    recent: deque[tuple[float, Tally]] = field(default_factory=deque)


@dataclass
class _Agent:
    status: str
    since: float
    day: float = float("-inf")
    today: dict[str, float] = field(default_factory=dict)
    recent: deque[tuple[float, float, str]] = field(default_factory=deque)


class KpiBook:
    def __init__(
        self,
        targets: Mapping[str, QueueTargets],
        tz: tzinfo,
        formula: ServiceLevelFormula = ServiceLevelFormula.SHORT_ABANDONS_EXCLUDED,
        members: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self._targets = dict(targets)
        self._tz = tz
        self.formula = formula
        self._members = {q: frozenset(a) for q, a in (members or {}).items()}
        self._queues: dict[str, _Queue] = {q: _Queue() for q in self._targets}
        self._agents: dict[str, _Agent] = {}

    @property
    def tz(self) -> tzinfo:
        """The time zone whose midnight starts "today"."""
        return self._tz

    def targets(self, queue: str) -> QueueTargets:
        return self._targets.get(queue) or QueueTargets()

    def set_members(self, members: Mapping[str, Collection[str]]) -> None:
        """Queue → member agents (occupancy per queue), e.g. after a runtime edit."""
        self._members = {q: frozenset(a) for q, a in members.items()}

    @property
    def queues(self) -> list[str]:
        """Configured queues, and any other queue seen in the facts, sorted."""
        return sorted(self._queues)

    # -- feeding ---------------------------------------------------------------------------

    def add_all(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact)

    def add(self, fact: Fact) -> None:
        if isinstance(fact, AgentStatus):
            self._agent_status(fact)
            return
        book = self._queues.setdefault(fact.queue, _Queue())
        one = _tally_of(fact, self.targets(fact.queue))
        day = day_start(fact.at, self._tz)
        if day > book.day:
            book.day, book.today = day, Tally()
        if day == book.day:
            book.today.add(one)
        book.recent.append((fact.at, one))
        _prune(book.recent, fact.at, key=lambda item: item[0])

    def _agent_status(self, fact: AgentStatus) -> None:
        agent = self._agents.get(fact.agent)
        if agent is None:
            self._agents[fact.agent] = _Agent(fact.status, fact.at)
            return
        start, end = agent.since, max(agent.since, fact.at)
        day = day_start(end, self._tz)
        if day > agent.day:
            agent.day, agent.today = day, {}
        if day == agent.day and end > max(start, day):
            spent = end - max(start, day)
            agent.today[agent.status] = agent.today.get(agent.status, 0.0) + spent
        agent.recent.append((start, end, agent.status))
        _prune(agent.recent, end, key=lambda item: item[1])
        agent.status, agent.since = fact.status, end

    # -- asking ----------------------------------------------------------------------------

    def queue_kpis(self, queue: str, window: Window, now: float) -> Kpis:
        tally = self._tally(queue, window, now)
        targets = self.targets(queue)
        members = self._members.get(queue, frozenset())
        return self._kpis(queue, window, now, tally, targets, members)

    def all_queues(self, window: Window, now: float) -> dict[str, Kpis]:
        return {q: self.queue_kpis(q, window, now) for q in self.queues}

    def overall(self, window: Window, now: float) -> Kpis:
        tally = Tally()
        for queue in self._queues:
            tally.add(self._tally(queue, window, now))
        return self._kpis(None, window, now, tally, None, None)

    def agent_seconds(self, agent_id: str, window: Window, now: float) -> dict[str, float]:
        """Seconds the agent spent in each state within the window (current state to now)."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return {}
        start = window_start(window, now, self._tz)
        spent: dict[str, float] = {}
        if window is Window.TODAY:
            if agent.day == start:
                spent.update(agent.today)
        else:
            for begin, end, status in agent.recent:
                overlap = min(end, now) - max(begin, start)
                if overlap > 0:
                    spent[status] = spent.get(status, 0.0) + overlap
        current = now - max(agent.since, start)
        if current > 0:
            spent[agent.status] = spent.get(agent.status, 0.0) + current
        return spent

    # -- internals -------------------------------------------------------------------------

    def _tally(self, queue: str, window: Window, now: float) -> Tally:
        book = self._queues.get(queue)
        tally = Tally()
        if book is None:
            return tally
        start = window_start(window, now, self._tz)
        if window is Window.TODAY:
            if book.day == start:
                tally.add(book.today)
            return tally
        for at, one in book.recent:
            if start <= at <= now:
                tally.add(one)
        return tally

    def _occupancy(self, agents: Iterable[str], window: Window, now: float) -> float | None:
        busy = ready = 0.0
        for agent_id in agents:
            for status, seconds in self.agent_seconds(agent_id, window, now).items():
                if status in BUSY_STATES:
                    busy += seconds
                elif status in READY_STATES:
                    ready += seconds
        return occupancy(busy, ready)

    def _kpis(
        self,
        queue: str | None,
        window: Window,
        now: float,
        tally: Tally,
        targets: QueueTargets | None,
        members: frozenset[str] | None,
    ) -> Kpis:
        agents: Iterable[str] = self._agents if members is None else members
        return Kpis(
            queue=queue,
            window=window,
            at=now,
            tally=tally,
            service_level=service_level(tally, self.formula),
            service_level_seconds=None if targets is None else targets.service_level_seconds,
            service_level_target=None if targets is None else targets.service_level_target,
            asa_seconds=average_speed_of_answer(tally),
            aht_seconds=average_handle_time(tally),
            abandon_rate=abandon_rate(tally),
            occupancy=self._occupancy(agents, window, now),
        )


def _tally_of(fact: QueueFact, targets: QueueTargets) -> Tally:
    match fact:
        case Queued():
            return Tally(offered=1)
        case Answered(wait=wait):
            return Tally(
                answered=1,
                answered_within=int(targets.answered_within(wait)),
                answered_wait_seconds=wait,
            )
        case Abandoned(wait=wait):
            return Tally(
                abandoned=1,
                short_abandons=int(targets.short_abandon(wait)),
                abandoned_within=int(targets.answered_within(wait)),
            )
        case LeftQueue():
            return Tally(left=1)
        case Handled(talk=talk, wrap_up=wrap_up):
            return Tally(handled=1, talk_seconds=talk, wrap_up_seconds=wrap_up)


def _prune(items: deque[Any], newest: float, key: Any) -> None:
    """Drop what is older than the longest rolling window (with a minute of slack)."""
    horizon = newest - LONGEST_ROLLING_SECONDS - 60.0
    while items and key(items[0]) < horizon:
        items.popleft()


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
