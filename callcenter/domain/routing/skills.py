"""Skill levels and requirements: the vocabulary that routing matches on.

Agents hold skills at levels 1-10; queues, IVR nodes and escalation steps
name skills with a minimum level. Keeping the checks here means every input
(config, REST, IVR) is held to the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from callcenter.domain.routing.errors import RoutingConfigError

MIN_LEVEL = 1
MAX_LEVEL = 10


def checked_levels(levels: Mapping[str, int], what: str) -> dict[str, int]:
    """Return a plain copy of ``levels`` after checking names and 1-10 levels.

    ``what`` names the owner (``"agent a1"``) so the error says where to look.
    """
    for skill, level in levels.items():
        if not isinstance(skill, str) or not skill.strip():
            raise RoutingConfigError(f"{what}: skill names must be non-empty text")
        if isinstance(level, bool) or not isinstance(level, int):
            raise RoutingConfigError(f"{what}: level of skill '{skill}' must be a whole number")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise RoutingConfigError(
                f"{what}: level of skill '{skill}' must be {MIN_LEVEL}-{MAX_LEVEL}, got {level}"
            )
    return dict(levels)


def merged_requirements(requirement_sets: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Union of several requirement sets; a skill named twice needs the higher level.

    The queue states what every call needs and the IVR adds what this caller
    needs, so neither may weaken the other.
    """
    merged: dict[str, int] = {}
    for requirements in requirement_sets:
        for skill, level in requirements.items():
            merged[skill] = max(level, merged.get(skill, level))
    return merged


@dataclass(frozen=True)
class SkillGap:
    """An agent falls short on ``skill``: it has level ``has`` (0 = not at all)."""

    skill: str
    has: int
    needs: int


def skill_gaps(skills: Mapping[str, int], required: Mapping[str, int]) -> tuple[SkillGap, ...]:
    """Every required skill the agent lacks or holds below the minimum, by skill name."""
    return tuple(
        SkillGap(skill, skills.get(skill, 0), needs)
        for skill, needs in sorted(required.items())
        if skills.get(skill, 0) < needs
    )
