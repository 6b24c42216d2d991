"""Load and validate flow files: ``load_flow`` and ``check_files``.

Validation happens in three passes over the composed YAML (schema of the
top level, schema of each node, then variables and the graph) and every
problem is kept, so an author fixes a file in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import yaml

from callcenter.domain.ivr.flow import RESERVED_VARIABLES, Flow, Node
from callcenter.domain.ivr.graph import Outline, check_graph
from callcenter.domain.ivr.problems import FlowError, FlowProblem
from callcenter.domain.ivr.reader import INT, Fields, Report, as_fields, as_text, line_of
from callcenter.domain.ivr.schema import (
    LANGUAGE,
    NAME,
    NodeContext,
    NodeReader,
    read_collect,
    read_hangup,
    read_menu,
    read_play,
    read_queue,
    read_say,
    read_set,
    read_transfer,
)
from callcenter.domain.ivr.schema_conditions import read_condition

SUPPORTED_VERSION = 1
TOP_LEVEL_KEYS = ("version", "description", "start", "language", "variables", "nodes")
DEFAULT_LANGUAGE = "en"

READERS: dict[str, NodeReader] = {
    "say": read_say,
    "play": read_play,
    "menu": read_menu,
    "collect": read_collect,
    "condition": read_condition,
    "set": read_set,
    "queue": read_queue,
    "transfer": read_transfer,
    "hangup": read_hangup,
}

StrPath = str | PathLike[str]


def load_flow(path: StrPath) -> Flow:
    """Load a flow file, raising :class:`FlowError` with every problem found."""
    flow, problems = read_flow(path)
    if flow is None:
        raise FlowError(problems)
    return flow


def check_files(paths: Iterable[StrPath]) -> list[FlowProblem]:
    """Every problem in every file, in file order (empty when all are valid)."""
    problems: list[FlowProblem] = []
    for path in paths:
        problems.extend(read_flow(path)[1])
    return problems


def read_flow(path: StrPath) -> tuple[Flow | None, list[FlowProblem]]:
    """The flow (``None`` unless valid) and the problems, sorted by line."""
    report = Report(str(path))
    flow = _read(Path(path), report)
    problems = sorted(report.problems, key=lambda problem: problem.line)
    return (flow if not problems else None), problems


def _read(path: Path, report: Report) -> Flow | None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        report.at_line(1, "flow file is not UTF-8 text")
        return None
    except OSError as error:
        report.at_line(1, f"cannot read flow file: {error.strerror or error}")
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        _syntax_error(error, report)
        return None
    if root is None:
        report.at_line(1, "flow file is empty")
        return None
    top = as_fields(root, report, "a flow file")
    if top is None:
        return None
    top.reject_unknown(TOP_LEVEL_KEYS, report, "", f"(a flow has: {', '.join(TOP_LEVEL_KEYS)})")
    description = top.get("description")
    if description is not None:
        as_text(description, report, "'description'", allow_empty=True)
    version = _version(top, report)
    language = _language(top, report)
    variables = _variables(top, report)
    start, start_line = _start(top, report)
    nodes, outlines, contexts = _nodes(top, report, language, path.resolve().parent)
    _check_variables(variables, contexts, report)
    if isinstance(top.get("nodes"), yaml.MappingNode):  # else already reported
        check_graph(start, start_line, outlines, report)
    if report.problems or version is None or start is None:
        return None
    return Flow(str(path), version, start, language, variables, nodes)


def _syntax_error(error: yaml.MarkedYAMLError, report: Report) -> None:
    mark = error.problem_mark or error.context_mark
    message = f"YAML syntax error: {error.problem or error.context}"
    if error.problem and error.context and error.context_mark is not None:
        message += f" ({error.context} started on line {error.context_mark.line + 1})"
    report.at_line(1 if mark is None else mark.line + 1, message)


def _version(top: Fields, report: Report) -> int | None:
    node = top.get("version")
    if node is None:
        report.at_line(1, f"missing key 'version' (this loader reads version {SUPPORTED_VERSION})")
        return None
    if not (isinstance(node, yaml.ScalarNode) and node.tag == INT and node.value == "1"):
        report.at(node, f"unsupported version '{node.value}' (expected {SUPPORTED_VERSION})")
        return None
    return SUPPORTED_VERSION


def _language(top: Fields, report: Report) -> str:
    node = top.get("language")
    if node is None:
        return DEFAULT_LANGUAGE
    language = as_text(node, report, "'language'")
    if language is not None and not LANGUAGE.match(language):
        report.at(node, f"'{language}' is not a language code (like en, es, pt-br)")
    return language or DEFAULT_LANGUAGE


def _variables(top: Fields, report: Report) -> dict[str, str]:
    node = top.get("variables")
    fields = None if node is None else as_fields(node, report, "'variables'")
    variables: dict[str, str] = {}
    for name, key_node, value in fields.items() if fields is not None else ():
        if not NAME.match(name):
            report.at(key_node, f"'{name}' is not a valid variable name")
        elif name in RESERVED_VARIABLES or name == "lang":
            report.at(key_node, f"variable '{name}' is set by the call, not declared")
        default = as_text(value, report, f"default of variable '{name}'", allow_empty=True)
        variables[name] = default or ""
    return variables


def _start(top: Fields, report: Report) -> tuple[str | None, int]:
    node = top.get("start")
    if node is None:
        report.at_line(1, "missing key 'start'")
        return None, 1
    return as_text(node, report, "'start'"), line_of(node)


def _nodes(
    top: Fields, report: Report, language: str, base_dir: Path
) -> tuple[dict[str, Node], dict[str, Outline], list[NodeContext]]:
    nodes: dict[str, Node] = {}
    outlines: dict[str, Outline] = {}
    contexts: list[NodeContext] = []
    node = top.get("nodes")
    if node is None:
        report.at_line(1, "missing key 'nodes'")
        return nodes, outlines, contexts
    entries = as_fields(node, report, "'nodes'")
    if entries is None:
        return nodes, outlines, contexts
    if not entries.keys():
        report.at(node, "'nodes' must not be empty")
    for node_id, key_node, value in entries.items():
        if not NAME.match(node_id):
            report.at(key_node, f"node id '{node_id}' must be letters, digits and _")
        fields = as_fields(value, report, f"node '{node_id}'")
        if fields is None:
            outlines[node_id] = Outline(node_id, line_of(key_node), "?", checked=False)
            continue
        ctx = NodeContext(report, node_id, key_node, fields, language, base_dir)
        contexts.append(ctx)
        built, outline = _read_node(ctx)
        outlines[node_id] = outline
        if built is not None:
            nodes[node_id] = built
    return nodes, outlines, contexts


def _read_node(ctx: NodeContext) -> tuple[Node | None, Outline]:
    type_node = ctx.require("type")
    kind = None if type_node is None else as_text(type_node, ctx.report, ctx.what("type"))
    reader = READERS.get(kind or "")
    if reader is not None:
        return reader(ctx)
    if type_node is not None and kind is not None:
        ctx.problem(
            type_node, f"unknown node type '{kind}' (expected one of: {', '.join(sorted(READERS))})"
        )
    outline = ctx.outline(kind or "?")
    outline.checked = False
    on = ctx.fields.get("on")
    if isinstance(on, yaml.MappingNode):
        outline.edges.extend(
            (str(target.value), line_of(target))
            for _, target in on.value
            if isinstance(target, yaml.ScalarNode)
        )
    return None, outline


def _check_variables(declared: dict[str, str], contexts: list[NodeContext], report: Report) -> None:
    known = set(declared) | RESERVED_VARIABLES | {"lang"}
    for ctx in contexts:
        known |= ctx.defines
    for ctx in contexts:
        for line, node_id, name in ctx.uses:
            if name not in known:
                report.at_line(line, f"node '{node_id}': unknown variable '{name}'")
