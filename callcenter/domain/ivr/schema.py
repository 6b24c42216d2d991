"""Reading one flow node from YAML: keys, types and prompts per node type.

Each ``read_*`` function checks one node type's keys and returns the built
node (or ``None`` when something was wrong, already reported) together with
an :class:`Outline` for the graph checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callcenter.domain.ivr.flow import (
    RESERVED_VARIABLES,
    CollectNode,
    FileAudio,
    HangupNode,
    MenuNode,
    Node,
    PromptNode,
    PromptSpec,
    QueueNode,
    SayText,
    SetNode,
    TransferNode,
)
from callcenter.domain.ivr.graph import Outline
from callcenter.domain.ivr.reader import (
    Fields,
    Report,
    as_bool,
    as_fields,
    as_int,
    as_regex,
    as_seconds,
    as_text,
    line_of,
)
from callcenter.domain.ivr.templates import TemplateError, variables_in

DTMF_KEYS = frozenset("0123456789*#ABCD")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")

MENU_DEFAULTS = {"timeout": 5.0, "retries": 2}
COLLECT_DEFAULTS = {"timeout": 5.0, "inter_digit_timeout": 3.0, "min_length": 1, "max_length": 20}


@dataclass
class NodeContext:
    """Everything a node reader needs, plus what it learns for later checks.

    ``uses`` and ``defines`` feed the flow-wide check that every ``{var}``
    and ``variable:`` test names a variable something can set.
    """

    report: Report
    id: str
    key: yaml.Node
    fields: Fields
    language: str
    base_dir: Path
    uses: list[tuple[int, str, str]] = field(default_factory=list)
    defines: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"node '{self.id}': "

    def problem(self, node: yaml.Node, message: str) -> None:
        self.report.at(node, self.prefix + message)

    def what(self, key: str) -> str:
        return f"{self.prefix}'{key}'"

    def require(self, key: str) -> yaml.Node | None:
        value = self.fields.get(key)
        if value is None:
            self.report.at(self.key, f"{self.prefix}missing key '{key}'")
        return value

    def outline(self, kind: str) -> Outline:
        return Outline(self.id, line_of(self.key), kind)


NodeReader = Callable[[NodeContext], tuple[Node | None, Outline]]


# --- shared pieces -----------------------------------------------------------------------


def _template(
    ctx: NodeContext, node: yaml.Node, what: str, *, allow_empty: bool = False
) -> str | None:
    text = as_text(node, ctx.report, what, allow_empty=allow_empty)
    if text is None:
        return None
    try:
        names = variables_in(text)
    except TemplateError as error:
        ctx.problem(node, str(error))
        return None
    ctx.uses.extend((line_of(node), ctx.id, name) for name in names)
    return text


def _say_text(ctx: NodeContext, node: yaml.Node) -> SayText | None:
    """``"text"`` (the flow's language), ``{en: "...", es: "..."}`` or ``{say, language}``."""
    if isinstance(node, yaml.ScalarNode):
        text = _template(ctx, node, f"{ctx.prefix}text")
        return None if text is None else SayText({ctx.language: text})
    fields = as_fields(node, ctx.report, f"{ctx.prefix}text")
    return None if fields is None else _say_map(ctx, fields)


def _say_map(ctx: NodeContext, fields: Fields) -> SayText | None:
    if "say" in fields:
        return _pinned_say(ctx, fields)
    texts: dict[str, str] = {}
    for language, key_node, value in fields.items():
        if not LANGUAGE.match(language):
            ctx.problem(key_node, f"'{language}' is not a language code (like en, es, pt-br)")
            continue
        text = _template(ctx, value, f"{ctx.prefix}'{language}' text")
        if text is not None:
            texts[language] = text
    if ctx.language not in texts and len(texts) == len(fields.keys()):
        ctx.problem(
            fields.node, f"text has no '{ctx.language}' version (the flow's default language)"
        )
        return None
    return SayText(texts) if len(texts) == len(fields.keys()) else None


def _pinned_say(ctx: NodeContext, fields: Fields) -> SayText | None:
    """``{say: "...", language: es}``: one text always spoken in one language.

    For the few words that must stay in their own language whatever the
    caller chose, such as "Para español, marque dos" in a language menu.
    """
    fields.reject_unknown(["say", "language"], ctx.report, ctx.prefix, "in a say prompt")
    language = ctx.language
    language_node = fields.get("language")
    if language_node is not None:
        language = as_text(language_node, ctx.report, ctx.what("language")) or ""
        if language and not LANGUAGE.match(language):
            ctx.problem(language_node, f"'{language}' is not a language code (like en, es, pt-br)")
    say_node = fields.get("say")
    assert say_node is not None
    text = _template(ctx, say_node, ctx.what("say"))
    if text is None or not LANGUAGE.match(language):
        return None
    return SayText({language: text})


def _audio_file(ctx: NodeContext, node: yaml.Node) -> FileAudio | None:
    name = as_text(node, ctx.report, f"{ctx.prefix}'play'")
    if name is None:
        return None
    path = (ctx.base_dir / name).resolve()
    if path.suffix.lower() != ".wav":
        ctx.problem(node, f"prompt file '{name}' is not a .wav file")
        return None
    if not path.is_file():
        ctx.problem(node, f"prompt file '{name}' not found at {path}")
        return None
    with path.open("rb") as audio:
        header = audio.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        ctx.problem(node, f"prompt file '{name}' is not a RIFF/WAVE file")
        return None
    return FileAudio(str(path))


def _one_or_many(node: yaml.Node) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else [node]


def _prompt_item(ctx: NodeContext, node: yaml.Node) -> PromptSpec | None:
    """``"text"``, ``{en: ..., es: ...}`` or ``{play: file.wav}``."""
    if isinstance(node, yaml.MappingNode):
        fields = as_fields(node, ctx.report, f"{ctx.prefix}prompt")
        if fields is None:
            return None
        if "play" not in fields:
            return _say_map(ctx, fields)
        fields.reject_unknown(["play"], ctx.report, ctx.prefix, "in a play prompt")
        play = fields.get("play")
        return None if play is None else _audio_file(ctx, play)
    return _say_text(ctx, node)


def _prompts(ctx: NodeContext, key: str) -> tuple[PromptSpec, ...] | None:
    """The prompt list under ``key``; empty if absent, ``None`` if any item is wrong."""
    node = ctx.fields.get(key)
    if node is None:
        return ()
    items = [_prompt_item(ctx, item) for item in _one_or_many(node)]
    if not items:
        ctx.problem(node, f"'{key}' must not be an empty list")
        return None
    found = [item for item in items if item is not None]
    return tuple(found) if len(found) == len(items) else None


def _events(ctx: NodeContext, outline: Outline, allowed: tuple[str, ...]) -> dict[str, str]:
    """Read ``on:``; every target becomes a graph edge."""
    node = ctx.fields.get("on")
    if node is None:
        return {}
    fields = as_fields(node, ctx.report, ctx.what("on"))
    if fields is None:
        return {}
    targets: dict[str, str] = {}
    for event, key_node, value in fields.items():
        if event not in allowed:
            ctx.problem(
                key_node,
                f"unknown event '{event}' (a {outline.kind} node has: {', '.join(allowed)})",
            )
            continue
        target = as_text(value, ctx.report, f"{ctx.prefix}target of '{event}'")
        if target is not None:
            targets[event] = target
            outline.edges.append((target, line_of(value)))
    return targets


def _optional_int(
    ctx: NodeContext, key: str, default: int, *, low: int, high: int | None = None
) -> int | None:
    node = ctx.fields.get(key)
    return default if node is None else as_int(node, ctx.report, ctx.what(key), low=low, high=high)


def _optional_seconds(ctx: NodeContext, key: str, default: float) -> float | None:
    node = ctx.fields.get(key)
    return default if node is None else as_seconds(node, ctx.report, ctx.what(key))


def _variable_name(ctx: NodeContext, node: yaml.Node, what: str) -> str | None:
    name = as_text(node, ctx.report, what)
    if name is None:
        return None
    if not NAME.match(name):
        ctx.problem(node, f"'{name}' is not a valid variable name")
        return None
    if name in RESERVED_VARIABLES:
        ctx.problem(node, f"variable '{name}' is read-only")
        return None
    ctx.defines.add(name)
    return name


# --- node types -------------------------------------------------------------------------


def _prompt_node(ctx: NodeContext, kind: str) -> tuple[Node | None, Outline]:
    outline = ctx.outline(kind)
    ctx.fields.reject_unknown(
        ["type", kind, "interruptible", "on"], ctx.report, ctx.prefix, f"for a {kind} node"
    )
    events = _events(ctx, outline, ("done",))
    if "done" not in events:
        outline.missing_exit = "on.done"
    body = ctx.require(kind)
    prompts: list[PromptSpec | None] = []
    if body is not None:
        items = _one_or_many(body)
        if not items:
            ctx.problem(body, f"'{kind}' must not be an empty list")
        read = _say_text if kind == "say" else _audio_file
        prompts = [read(ctx, item) for item in items]
    interruptible_node = ctx.fields.get("interruptible")
    interruptible = (
        False
        if interruptible_node is None
        else as_bool(interruptible_node, ctx.report, ctx.what("interruptible"))
    )
    if not prompts or None in prompts or interruptible is None or "done" not in events:
        return None, outline
    specs = tuple(p for p in prompts if p is not None)
    return PromptNode(ctx.id, kind, specs, events["done"], interruptible), outline


def read_say(ctx: NodeContext) -> tuple[Node | None, Outline]:
    return _prompt_node(ctx, "say")


def read_play(ctx: NodeContext) -> tuple[Node | None, Outline]:
    return _prompt_node(ctx, "play")


def read_menu(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("menu")
    ctx.fields.reject_unknown(
        ["type", "prompt", "options", "timeout", "retries", "invalid", "no_input", "on"],
        ctx.report,
        ctx.prefix,
        "for a menu node",
    )
    events = _events(ctx, outline, ("invalid", "no_input"))
    outline.ends = "invalid" not in events or "no_input" not in events
    options: dict[str, str] | None = None
    options_node = ctx.require("options")
    fields = (
        None if options_node is None else as_fields(options_node, ctx.report, ctx.what("options"))
    )
    if fields is not None:
        options = {}
        if not fields.keys():
            ctx.problem(fields.node, "'options' must not be empty")
            options = None
        for key, key_node, value in fields.items():
            if key not in DTMF_KEYS:
                ctx.problem(key_node, f"option '{key}' is not a single DTMF key (0-9, *, #, A-D)")
                options = None
            target = as_text(value, ctx.report, f"{ctx.prefix}target of option '{key}'")
            if target is None:
                options = None
            else:
                outline.edges.append((target, line_of(value)))
                if options is not None:
                    options[key] = target
    prompts = _prompts(ctx, "prompt")
    invalid = _prompts(ctx, "invalid")
    no_input = _prompts(ctx, "no_input")
    timeout = _optional_seconds(ctx, "timeout", MENU_DEFAULTS["timeout"])
    retries = _optional_int(ctx, "retries", int(MENU_DEFAULTS["retries"]), low=0, high=10)
    if None in (options, prompts, invalid, no_input, timeout, retries):
        return None, outline
    assert options is not None and prompts is not None and invalid is not None
    assert no_input is not None and timeout is not None and retries is not None
    node = MenuNode(
        ctx.id, prompts, options, timeout, retries, invalid, no_input,
        events.get("invalid"), events.get("no_input"),
    )  # fmt: skip
    return node, outline


def _terminator(ctx: NodeContext) -> tuple[bool, str | None]:
    node = ctx.fields.get("terminator")
    if node is None:
        return True, "#"
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        ctx.problem(
            node, '\'terminator\' is empty: quote the key, as in terminator: "#" (or "" for none)'
        )
        return False, None
    text = as_text(node, ctx.report, ctx.what("terminator"), allow_empty=True)
    if text is None:
        return False, None
    if text and text not in DTMF_KEYS:
        ctx.problem(node, f"terminator '{text}' is not a single DTMF key (0-9, *, #, A-D)")
        return False, None
    return True, text or None


def read_collect(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("collect")
    ctx.fields.reject_unknown(
        [
            "type", "prompt", "into", "min_length", "max_length", "terminator", "pattern",
            "timeout", "inter_digit_timeout", "retries", "invalid", "no_input", "on",
        ],
        ctx.report,
        ctx.prefix,
        "for a collect node",
    )  # fmt: skip
    events = _events(ctx, outline, ("done", "invalid", "no_input"))
    if "done" not in events:
        outline.missing_exit = "on.done"
    outline.ends = "invalid" not in events or "no_input" not in events
    into_node = ctx.require("into")
    into = None if into_node is None else _variable_name(ctx, into_node, ctx.what("into"))
    min_length = _optional_int(ctx, "min_length", int(COLLECT_DEFAULTS["min_length"]), low=0)
    max_length = _optional_int(ctx, "max_length", int(COLLECT_DEFAULTS["max_length"]), low=1)
    if min_length is not None and max_length is not None and min_length > max_length:
        ctx.problem(
            ctx.fields.get("min_length") or ctx.key,
            f"'min_length' {min_length} is above 'max_length' {max_length}",
        )
        min_length = None
    terminator_ok, terminator = _terminator(ctx)
    pattern_node = ctx.fields.get("pattern")
    pattern = (
        None if pattern_node is None else as_regex(pattern_node, ctx.report, ctx.what("pattern"))
    )
    prompts = _prompts(ctx, "prompt")
    invalid = _prompts(ctx, "invalid")
    no_input = _prompts(ctx, "no_input")
    timeout = _optional_seconds(ctx, "timeout", COLLECT_DEFAULTS["timeout"])
    inter_digit = _optional_seconds(
        ctx, "inter_digit_timeout", COLLECT_DEFAULTS["inter_digit_timeout"]
    )
    retries = _optional_int(ctx, "retries", int(MENU_DEFAULTS["retries"]), low=0, high=10)
    if (
        None
        in (into, min_length, max_length, prompts, invalid, no_input, timeout, inter_digit, retries)
        or (pattern_node is not None and pattern is None)
        or not terminator_ok
        or "done" not in events
    ):
        return None, outline
    assert into is not None and min_length is not None and max_length is not None
    assert prompts is not None and invalid is not None and no_input is not None
    assert timeout is not None and inter_digit is not None and retries is not None
    node = CollectNode(
        ctx.id, prompts, into, min_length, max_length, terminator, pattern, timeout,
        inter_digit, retries, invalid, no_input, events["done"],
        events.get("invalid"), events.get("no_input"),
    )  # fmt: skip
    return node, outline


def read_set(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("set")
    ctx.fields.reject_unknown(["type", "set", "on"], ctx.report, ctx.prefix, "for a set node")
    events = _events(ctx, outline, ("done",))
    if "done" not in events:
        outline.missing_exit = "on.done"
    body = ctx.require("set")
    fields = None if body is None else as_fields(body, ctx.report, ctx.what("set"))
    assignments: dict[str, str] | None = None
    if fields is not None:
        assignments = {}
        if not fields.keys():
            ctx.problem(fields.node, "'set' must not be empty")
            assignments = None
        for _, key_node, value in fields.items():
            name = _variable_name(ctx, key_node, f"{ctx.prefix}variable name")
            text = _template(
                ctx, value, f"{ctx.prefix}value of '{key_node.value}'", allow_empty=True
            )
            if name is None or text is None:
                assignments = None
            elif assignments is not None:
                assignments[name] = text
    if assignments is None or "done" not in events:
        return None, outline
    return SetNode(ctx.id, assignments, events["done"]), outline


def read_queue(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("queue")
    outline.ends = True
    ctx.fields.reject_unknown(
        ["type", "queue", "priority", "skills"], ctx.report, ctx.prefix, "for a queue node"
    )
    queue_node = ctx.require("queue")
    queue = None if queue_node is None else as_text(queue_node, ctx.report, ctx.what("queue"))
    priority = _optional_int(ctx, "priority", 0, low=0)
    skills: dict[str, int] | None = {}
    skills_node = ctx.fields.get("skills")
    fields = None if skills_node is None else as_fields(skills_node, ctx.report, ctx.what("skills"))
    if skills_node is not None and fields is None:
        skills = None
    for skill, _, level_node in fields.items() if fields is not None else ():
        level = as_int(
            level_node, ctx.report, f"{ctx.prefix}level of skill '{skill}'", low=1, high=10
        )
        if level is None:
            skills = None
        elif skills is not None:
            skills[skill] = level
    if queue is None or priority is None or skills is None:
        return None, outline
    return QueueNode(ctx.id, queue, priority, skills), outline


def read_transfer(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("transfer")
    outline.ends = True
    ctx.fields.reject_unknown(["type", "target"], ctx.report, ctx.prefix, "for a transfer node")
    target_node = ctx.require("target")
    target = None if target_node is None else as_text(target_node, ctx.report, ctx.what("target"))
    return (None if target is None else TransferNode(ctx.id, target)), outline


def read_hangup(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("hangup")
    outline.ends = True
    ctx.fields.reject_unknown(["type", "reason"], ctx.report, ctx.prefix, "for a hangup node")
    reason_node = ctx.fields.get("reason")
    reason = (
        "normal" if reason_node is None else as_text(reason_node, ctx.report, ctx.what("reason"))
    )
    return (None if reason is None else HangupNode(ctx.id, reason)), outline
