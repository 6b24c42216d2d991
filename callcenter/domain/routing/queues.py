"""Queue configuration and the calls waiting in queues.

A :class:`Queue` says which skills its calls need, how agents are picked
(:class:`Strategy`), how much its callers count against other queues'
(``weight``), and how requirements relax while a caller waits
(:class:`EscalationStep`). A :class:`WaitingCall` is one caller in one queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from callcenter.domain.routing.errors import RoutingConfigError
from callcenter.domain.routing.skills import MAX_LEVEL, checked_levels

#: Caller priority runs 0 (default) to MAX_PRIORITY; a HIGHER number is MORE urgent.
MAX_PRIORITY = 999
#: Queue weights are bounded so that weighted wait never spills into the priority band.
MAX_WEIGHT = 100.0


class Strategy(StrEnum):
    """How a queue picks among eligible agents (see ``policy.agent_sort_key``)."""

    LONGEST_IDLE = "longest-idle"
    MOST_SKILLED = "most-skilled"
    ROUND_ROBIN = "round-robin"
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"


@dataclass(frozen=True)
class EscalationStep:
    """Once a caller has waited ``after_seconds``, relax what it needs.

    Steps apply cumulatively, in order: ``drop`` removes skills,
    ``min_levels`` lowers the minimum of named skills (never raises it), and
    ``lower_by`` lowers every remaining minimum by that many levels (not
    below 1). A step can only widen the set of eligible agents.
    """

    after_seconds: float
    min_levels: Mapping[str, int] = field(default_factory=dict)
    drop: Iterable[str] = frozenset()
    lower_by: int = 0

    def __post_init__(self) -> None:
        if self.after_seconds <= 0:
            raise RoutingConfigError("an escalation step starts after a positive wait")
        what = f"escalation step after {self.after_seconds:g} s"
        object.__setattr__(
            self, "min_levels", MappingProxyType(checked_levels(self.min_levels, what))
        )
        object.__setattr__(self, "drop", frozenset(self.drop))
        if not 0 <= self.lower_by < MAX_LEVEL:
            raise RoutingConfigError(f"{what}: lower_by must be 0-{MAX_LEVEL - 1}")

    def relax(self, requirements: Mapping[str, int]) -> dict[str, int]:
        """Requirements after this step."""
        relaxed: dict[str, int] = {}
        for skill, level in requirements.items():
            if skill in self.drop:
                continue
            level = min(level, self.min_levels.get(skill, level))
            relaxed[skill] = max(1, level - self.lower_by)
        return relaxed


@dataclass(frozen=True)
class Queue:
    """One queue's routing configuration.

    ``ring_timeout_seconds`` is how long an offer rings before RONA;
    ``decline_retry_seconds`` is how long an agent that declined a call (or
    was busy) is skipped for that call; ``max_wait_seconds`` (None = no
    limit) is when the caller overflows; ``service_level_seconds`` is the
    answer-within threshold that KPIs use.
    """

    name: str
    skills: Mapping[str, int] = field(default_factory=dict)
    strategy: Strategy = Strategy.LONGEST_IDLE
    weight: float = 1.0
    wrap_up_seconds: float = 10.0
    ring_timeout_seconds: float = 20.0
    escalation: Sequence[EscalationStep] = ()
    max_wait_seconds: float | None = None
    service_level_seconds: float = 20.0
    decline_retry_seconds: float = 30.0

    def __post_init__(self) -> None:
        what = f"queue {self.name}"
        if not self.name.strip():
            raise RoutingConfigError("a queue needs a non-empty name")
        object.__setattr__(self, "skills", MappingProxyType(checked_levels(self.skills, what)))
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        if not 0 < self.weight <= MAX_WEIGHT:
            raise RoutingConfigError(f"{what}: weight must be above 0 and at most {MAX_WEIGHT:g}")
        for name in ("wrap_up_seconds", "decline_retry_seconds"):
            if getattr(self, name) < 0:
                raise RoutingConfigError(f"{what}: {name} cannot be negative")
        for name in ("ring_timeout_seconds", "service_level_seconds"):
            if getattr(self, name) <= 0:
                raise RoutingConfigError(f"{what}: {name} must be positive")
        if self.max_wait_seconds is not None and self.max_wait_seconds <= 0:
            raise RoutingConfigError(f"{what}: max_wait_seconds must be positive")
        steps = tuple(self.escalation)
        starts = [step.after_seconds for step in steps]
        if starts != sorted(set(starts)):
            raise RoutingConfigError(f"{what}: escalation steps must start at increasing waits")
        object.__setattr__(self, "escalation", steps)


@dataclass(frozen=True)
class WaitingCall:
    """A caller waiting in ``queue`` since ``entered_at``.

    ``skills`` are what the IVR asked for on top of the queue's own
    requirements. ``declined`` maps agents that declined the call (or were
    busy) to when they did. The escalation step reached is not stored: it
    follows from the wait (``escalation.requirements_at``), so it can never go
    stale between two controllers.
    """

    call_id: str
    queue: str
    priority: int
    entered_at: float
    skills: Mapping[str, int] = field(default_factory=dict)
    declined: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        what = f"call {self.call_id}"
        if isinstance(self.priority, bool) or not 0 <= self.priority <= MAX_PRIORITY:
            raise RoutingConfigError(f"{what}: priority must be 0-{MAX_PRIORITY}")
        object.__setattr__(self, "skills", MappingProxyType(checked_levels(self.skills, what)))
        object.__setattr__(self, "declined", MappingProxyType(dict(self.declined)))

    def waited(self, now: float) -> float:
        """Seconds in the queue so far (never negative)."""
        return max(0.0, now - self.entered_at)

    def with_decline(self, agent_id: str, at: float) -> WaitingCall:
        """This call after ``agent_id`` declined it (or was busy) at ``at``."""
        return replace(self, declined={**self.declined, agent_id: at})


def wait_exceeded(call: WaitingCall, queue: Queue, now: float) -> bool:
    """True once the caller has waited the queue's maximum (time to overflow)."""
    return queue.max_wait_seconds is not None and call.waited(now) >= queue.max_wait_seconds
