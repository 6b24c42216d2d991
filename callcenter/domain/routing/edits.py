"""Supervisors' runtime changes: agents' skills and queues, a waiting call's queue and priority.

The configuration defines each agent. A supervisor may replace an agent's ``skills`` or its
``queues`` while the service runs; such an edit is kept (in Redis, by the adapter) apart from
the configuration and *wins over it* for the field it replaces, across restarts, until it is
reset. Keeping the two apart is what lets a restart re-read the configuration without undoing a
supervisor's work, and lets a reset go back to exactly what the file says.

Requests are parsed here, with one precise message per mistake, so the HTTP layer only maps
:class:`EditError` to ``400``/``422``:

- ``skills`` is a JSON merge patch (RFC 7396) on the agent's current skills: ``{"billing": 7}``
  sets one level (1-10) and keeps the others, ``{"tech": null}`` removes a skill, and
  ``"skills": null`` drops the edit so the configured skills apply again;
- ``queues`` is the whole list of queues served (``[]`` serves none); ``null`` drops the edit.

Skill names must be known (:attr:`Vocabulary.skills`: the config's ``skills`` list, or when that
is not given every skill the configuration names); queue names must be configured. An edit kept
from an earlier run is checked against the configuration at start (:func:`still_valid`): names
that no longer exist are dropped, so a removed queue never traps an agent.

-*- test-case-name: tests.unit.routing.test_edits -*-
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from callcenter.domain.routing.agents import Agent
from callcenter.domain.routing.queues import MAX_PRIORITY
from callcenter.domain.routing.skills import MAX_LEVEL, MIN_LEVEL

EDITABLE = ("skills", "queues")


class EditError(ValueError):
    """A request a supervisor must fix: ``error_id`` slug, ``status`` (400 malformed, 422
    well-formed but naming something unknown) and a message saying what is wrong."""

    def __init__(self, error_id: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Vocabulary:
    """The names an edit may use."""

    skills: frozenset[str]
    queues: frozenset[str]


@dataclass(frozen=True)
class AgentEdits:
    """What supervisors changed on one agent; a field left None follows the configuration."""

    skills: Mapping[str, int] | None = None
    queues: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.skills is not None:
            object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))

    @property
    def empty(self) -> bool:
        return self.skills is None and self.queues is None

    def fields(self) -> list[str]:
        """Names of the edited fields (what the agent view lists as ``edited``)."""
        return [name for name in EDITABLE if getattr(self, name) is not None]

    def applied_to(self, configured: Agent) -> Agent:
        """The agent routing uses: the configured one with these edits in place."""
        return replace(
            configured,
            skills=dict(configured.skills if self.skills is None else self.skills),
            queues=tuple(configured.queues if self.queues is None else self.queues),
        )


@dataclass(frozen=True)
class EditRequest:
    """A parsed ``PATCH``: for each field, absent (not mentioned), a change, or a reset."""

    skills: Mapping[str, int | None] | None = None  # merge patch; None: not mentioned
    reset_skills: bool = False
    queues: tuple[str, ...] | None = None
    reset_queues: bool = False
    mentioned: tuple[str, ...] = field(default=())

    def applied(self, edits: AgentEdits, current: Agent) -> AgentEdits:
        """The agent's edits after this request; ``current`` is the agent as routing has it."""
        skills = edits.skills
        if self.reset_skills:
            skills = None
        elif self.skills is not None:
            merged = dict(current.skills)
            for skill, level in self.skills.items():
                if level is None:
                    merged.pop(skill, None)
                else:
                    merged[skill] = level
            skills = merged
        queues = edits.queues
        if self.reset_queues:
            queues = None
        elif self.queues is not None:
            queues = self.queues
        return AgentEdits(skills, queues)


def parse_edit(body: Mapping[str, Any], known: Vocabulary) -> EditRequest:
    """A ``PATCH /api/agents/<id>`` body as an :class:`EditRequest`; :class:`EditError` if bad."""
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise EditError(
            "unknown-field",
            f"cannot edit {', '.join(repr(k) for k in unknown)}; editable: skills, queues",
        )
    if not body:
        raise EditError("nothing-to-change", 'give "skills" and/or "queues" to change')
    request = EditRequest(mentioned=tuple(k for k in EDITABLE if k in body))
    if "skills" in body:
        raw = body["skills"]
        if raw is None:
            request = replace(request, reset_skills=True)
        else:
            request = replace(request, skills=_skills_patch(raw, known))
    if "queues" in body:
        raw = body["queues"]
        if raw is None:
            request = replace(request, reset_queues=True)
        else:
            request = replace(request, queues=_queue_list(raw, known))
    return request


def parse_priority(body: Mapping[str, Any]) -> int:
    """``{"priority": N}`` with N a whole number 0-999 (higher is more urgent)."""
    _only(body, "priority")
    raw = body.get("priority")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise EditError(
            "invalid-priority", f'"priority" must be a whole number 0-{MAX_PRIORITY}, got {raw!r}'
        )
    if not 0 <= raw <= MAX_PRIORITY:
        raise EditError("invalid-priority", f'"priority" must be 0-{MAX_PRIORITY}, got {raw}')
    return raw


def parse_queue(body: Mapping[str, Any], known: Vocabulary) -> str:
    """``{"queue": "<name>"}`` naming a configured queue (422 for an unknown one)."""
    _only(body, "queue")
    raw = body.get("queue")
    if not isinstance(raw, str) or not raw.strip():
        raise EditError("invalid-queue", f'"queue" must be a queue name, got {raw!r}')
    if raw not in known.queues:
        raise EditError(
            "unknown-queue",
            f"no queue {raw!r}; configured: {', '.join(sorted(known.queues))}",
            status=422,
        )
    return raw


def still_valid(edits: AgentEdits, known: Vocabulary) -> tuple[AgentEdits, list[str]]:
    """A kept edit checked against today's configuration: what survives, and what was dropped."""
    dropped: list[str] = []
    skills = edits.skills
    if skills is not None:
        gone = sorted(set(skills) - known.skills)
        if gone:
            dropped.append(f"skill(s) {', '.join(gone)} no longer configured")
            skills = {s: level for s, level in skills.items() if s in known.skills}
    queues = edits.queues
    if queues is not None:
        gone = sorted(set(queues) - known.queues)
        if gone:
            dropped.append(f"queue(s) {', '.join(gone)} no longer configured")
            queues = tuple(q for q in queues if q in known.queues)
    return AgentEdits(skills, queues), dropped


def _only(body: Mapping[str, Any], name: str) -> None:
    extra = sorted(set(body) - {name})
    if extra or name not in body:
        raise EditError("bad-request", f'the body is {{"{name}": ...}} and nothing else')


def _skills_patch(raw: Any, known: Vocabulary) -> dict[str, int | None]:
    if not isinstance(raw, dict):
        raise EditError(
            "invalid-skills", '"skills" must be an object of skill → level 1-10 (or null)'
        )
    patch: dict[str, int | None] = {}
    unknown = []
    for skill, level in raw.items():
        if level is not None and (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not MIN_LEVEL <= level <= MAX_LEVEL
        ):
            raise EditError(
                "invalid-skill-level",
                f"skill {skill!r}: level must be a whole number {MIN_LEVEL}-{MAX_LEVEL} "
                f"(null removes the skill), got {level!r}",
            )
        if skill not in known.skills and level is not None:
            unknown.append(skill)
        patch[skill] = level
    if unknown:
        raise EditError(
            "unknown-skill",
            f"unknown skill(s) {', '.join(repr(s) for s in sorted(unknown))}; known: "
            + (", ".join(sorted(known.skills)) or "none"),
            status=422,
        )
    return patch


def _queue_list(raw: Any, known: Vocabulary) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(q, str) for q in raw):
        raise EditError("invalid-queues", '"queues" must be a list of queue names (or null)')
    if len(set(raw)) != len(raw):
        raise EditError("invalid-queues", '"queues" names a queue twice')
    unknown = sorted(set(raw) - known.queues)
    if unknown:
        raise EditError(
            "unknown-queue",
            f"unknown queue(s) {', '.join(repr(q) for q in unknown)}; configured: "
            + ", ".join(sorted(known.queues)),
            status=422,
        )
    return tuple(raw)


def known_names(declared: Collection[str], named: Collection[str]) -> frozenset[str]:
    """The skills an edit may use: the declared list when given, else every name in use."""
    return frozenset(declared) if declared else frozenset(named)
