"""The validated, immutable shape of an IVR flow.

Only the loader builds these objects, and only from a file that passed every
check, so the engine can trust them: every target exists, every regex
compiles, every prompt file is there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from callcenter.domain.ivr.actions import PlayFile, Prompt, Say
from callcenter.domain.ivr.hours import BusinessHours
from callcenter.domain.ivr.templates import is_static, render


@dataclass(frozen=True)
class SayText:
    """Text to speak, per language.

    Either the flow's default language is present (and is the fallback when
    the caller's ``lang`` has no text), or the text is pinned to a single
    language and always spoken in it.
    """

    texts: Mapping[str, str]


@dataclass(frozen=True)
class FileAudio:
    """A WAV file to play, as an absolute path."""

    path: str


PromptSpec: TypeAlias = SayText | FileAudio


@dataclass(frozen=True)
class PromptNode:
    """``say`` or ``play``: play prompts, then go to ``next`` (event ``done``).

    With ``interruptible`` a digit stops the prompt, is kept for the next
    menu or collect, and the node moves on at once.
    """

    id: str
    kind: str
    prompts: tuple[PromptSpec, ...]
    next: str
    interruptible: bool = False


@dataclass(frozen=True)
class MenuNode:
    """Offer DTMF choices; ``retries`` extra attempts after a failed one."""

    kind: ClassVar[str] = "menu"
    id: str
    prompts: tuple[PromptSpec, ...]
    options: Mapping[str, str]
    timeout: float
    retries: int
    invalid_prompts: tuple[PromptSpec, ...]
    no_input_prompts: tuple[PromptSpec, ...]
    on_invalid: str | None
    on_no_input: str | None


@dataclass(frozen=True)
class CollectNode:
    """Gather several digits into a variable."""

    kind: ClassVar[str] = "collect"
    id: str
    prompts: tuple[PromptSpec, ...]
    into: str
    min_length: int
    max_length: int
    terminator: str | None
    pattern: re.Pattern[str] | None
    timeout: float
    inter_digit_timeout: float
    retries: int
    invalid_prompts: tuple[PromptSpec, ...]
    no_input_prompts: tuple[PromptSpec, ...]
    on_done: str
    on_invalid: str | None
    on_no_input: str | None


@dataclass(frozen=True)
class HoursTest:
    """True while the business hours are open."""

    hours: BusinessHours


@dataclass(frozen=True)
class CallerTest:
    """True when the caller number matches (``re.search``)."""

    pattern: re.Pattern[str]


@dataclass(frozen=True)
class VariableTest:
    """True when a variable equals a value, or matches a regex (``re.search``)."""

    variable: str
    equals: str | None = None
    matches: re.Pattern[str] | None = None


Test: TypeAlias = HoursTest | CallerTest | VariableTest


@dataclass(frozen=True)
class Case:
    """One branch of a condition: first true test wins."""

    test: Test
    next: str


@dataclass(frozen=True)
class ConditionNode:
    """Branch without waiting on the caller."""

    kind: ClassVar[str] = "condition"
    id: str
    cases: tuple[Case, ...]
    default: str


@dataclass(frozen=True)
class SetNode:
    """Assign variables (values are templates), then go to ``next``."""

    kind: ClassVar[str] = "set"
    id: str
    assignments: Mapping[str, str]
    next: str


@dataclass(frozen=True)
class QueueNode:
    """Terminal: hand the call to the routing engine."""

    kind: ClassVar[str] = "queue"
    id: str
    queue: str
    priority: int
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferNode:
    """Terminal: send the call elsewhere."""

    kind: ClassVar[str] = "transfer"
    id: str
    target: str


@dataclass(frozen=True)
class HangupNode:
    """Terminal: end the call."""

    kind: ClassVar[str] = "hangup"
    id: str
    reason: str


Node: TypeAlias = (
    PromptNode
    | MenuNode
    | CollectNode
    | ConditionNode
    | SetNode
    | QueueNode
    | TransferNode
    | HangupNode
)

RESERVED_VARIABLES = frozenset({"caller", "did", "call_id"})
"""Filled from the call and read-only in a flow."""


@dataclass(frozen=True)
class Flow:
    """A loaded flow. ``language`` is the default for ``say`` text and ``lang``."""

    path: str
    version: int
    start: str
    language: str
    variables: Mapping[str, str]
    nodes: Mapping[str, Node]

    def all_prompts(self) -> tuple[Prompt, ...]:
        """Every prompt this flow can play that does not depend on variables.

        The media side renders these ahead of the first call; a ``say`` text
        with ``{variables}`` can only be rendered when it is played.
        """
        found: dict[Prompt, None] = {}
        for node in self.nodes.values():
            for spec in _prompt_specs(node):
                if isinstance(spec, FileAudio):
                    found[PlayFile(spec.path)] = None
                    continue
                for language, text in spec.texts.items():
                    if is_static(text):
                        found[Say(render(text, {}), language)] = None
        return tuple(found)


def _prompt_specs(node: Node) -> tuple[PromptSpec, ...]:
    if isinstance(node, PromptNode):
        return node.prompts
    if isinstance(node, MenuNode | CollectNode):
        return node.prompts + node.invalid_prompts + node.no_input_prompts
    return ()
