"""Escalation: what a waiting call requires, as a function of how long it waited.

Like Genesys "bullseye" rings or Amazon Connect routing steps: a caller first
needs the best-matched agents, and after each step's wait the requirements
widen so the caller is not stuck behind a skill nobody on shift has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from callcenter.domain.routing.queues import EscalationStep, Queue, WaitingCall
from callcenter.domain.routing.skills import merged_requirements


@dataclass(frozen=True)
class Requirements:
    """What a call needs right now.

    ``levels`` are the effective minimums after ``step`` escalation steps
    (0 = none yet); ``base`` is the queue's and the IVR's requirements merged,
    before any relaxing (most-skilled ranks on these, so an agent that still
    has a dropped skill ranks higher). ``next_step_at`` is when the next
    step starts (None = no more steps), for the adapter's re-match timer.
    """

    levels: Mapping[str, int]
    base: Mapping[str, int]
    step: int
    next_step_at: float | None = field(default=None)


def relaxed(
    base: Mapping[str, int], steps: Sequence[EscalationStep], waited: float
) -> tuple[dict[str, int], int]:
    """Requirements after ``waited`` seconds, and how many steps applied."""
    levels = dict(base)
    reached = 0
    for step in steps:
        if waited < step.after_seconds:
            break
        levels = step.relax(levels)
        reached += 1
    return levels, reached


def requirements_at(queue: Queue, call: WaitingCall, now: float) -> Requirements:
    """The call's effective requirements at ``now``: queue and IVR merged, then escalated."""
    if call.queue != queue.name:
        raise ValueError(f"call {call.call_id} waits in {call.queue}, not {queue.name}")
    base = merged_requirements((queue.skills, call.skills))
    levels, step = relaxed(base, queue.escalation, call.waited(now))
    steps = queue.escalation
    next_at = call.entered_at + steps[step].after_seconds if step < len(steps) else None
    return Requirements(MappingProxyType(levels), MappingProxyType(base), step, next_at)
