"""Typed reading of a composed YAML tree, recording problems with line numbers.

The loader works on ``yaml.compose`` nodes rather than loaded Python objects
because only nodes remember where they came from; every accessor here
reports a problem at the offending node and returns ``None`` instead of
raising, so one pass finds every mistake in a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from callcenter.domain.ivr.problems import FlowProblem

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"
TIMESTAMP = "tag:yaml.org,2002:timestamp"

_DECIMAL = re.compile(r"^[-+]?[0-9]+$")


def line_of(node: yaml.Node) -> int:
    """1-based line where ``node`` starts."""
    mark = node.start_mark
    return 1 if mark is None else mark.line + 1


class Report:
    """Problems found in one file so far."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[FlowProblem] = []

    def at_line(self, line: int, message: str) -> None:
        self.problems.append(FlowProblem(self.file, line, message))

    def at(self, node: yaml.Node, message: str) -> None:
        self.at_line(line_of(node), message)


class Fields:
    """One YAML mapping read by key, with the key nodes kept for line numbers."""

    def __init__(
        self, node: yaml.MappingNode, entries: dict[str, tuple[yaml.Node, yaml.Node]]
    ) -> None:
        self.node = node
        self.entries = entries

    def get(self, key: str) -> yaml.Node | None:
        entry = self.entries.get(key)
        return None if entry is None else entry[1]

    def key_node(self, key: str) -> yaml.Node:
        return self.entries[key][0]

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def keys(self) -> list[str]:
        return list(self.entries)

    def items(self) -> list[tuple[str, yaml.Node, yaml.Node]]:
        return [(key, key_node, value) for key, (key_node, value) in self.entries.items()]

    def reject_unknown(
        self, allowed: Iterable[str], report: Report, prefix: str, where: str
    ) -> None:
        """Report each key not in ``allowed`` as "<prefix>unknown key 'x' <where>"."""
        permitted = set(allowed)
        for key, key_node, _ in self.items():
            if key not in permitted:
                report.at(key_node, f"{prefix}unknown key '{key}' {where}")


def as_fields(node: yaml.Node, report: Report, what: str) -> Fields | None:
    """The node as a mapping with scalar, unique keys (both checked and reported)."""
    if not isinstance(node, yaml.MappingNode):
        report.at(node, f"{what} must be a mapping")
        return None
    entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            report.at(key_node, f"{what} has a key that is not a plain value")
            continue
        key = str(key_node.value)
        if key in entries:
            report.at(key_node, f"duplicate key '{key}' in {what}")
            continue
        entries[key] = (key_node, value_node)
    return Fields(node, entries)


def as_list(node: yaml.Node, report: Report, what: str) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.SequenceNode):
        report.at(node, f"{what} must be a list")
        return None
    return list(node.value)


def as_text(node: yaml.Node, report: Report, what: str, *, allow_empty: bool = False) -> str | None:
    """A string; plain integers are accepted too (extension numbers, digits)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag not in (STR, INT):
        report.at(node, f"{what} must be a string")
        return None
    text = str(node.value)
    if not text and not allow_empty:
        report.at(node, f"{what} must not be empty")
        return None
    return text


def as_int(
    node: yaml.Node, report: Report, what: str, *, low: int, high: int | None = None
) -> int | None:
    text = node.value if isinstance(node, yaml.ScalarNode) and node.tag == INT else None
    if not isinstance(text, str) or not _DECIMAL.match(text):
        report.at(node, f"{what} must be an integer")
        return None
    value = int(text)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        report.at(node, f"{what} must be {bounds}")
        return None
    return value


def as_seconds(node: yaml.Node, report: Report, what: str) -> float | None:
    """A positive number of seconds."""
    value: float | None = None
    if isinstance(node, yaml.ScalarNode) and node.tag in (INT, FLOAT):
        try:
            value = float(str(node.value).replace("_", ""))
        except ValueError:
            value = None
    if value is None or not value > 0 or value == float("inf"):
        report.at(node, f"{what} must be a positive number of seconds")
        return None
    return value


def as_bool(node: yaml.Node, report: Report, what: str) -> bool | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
        return str(node.value).lower() in ("true", "yes", "on", "y")
    report.at(node, f"{what} must be true or false")
    return None


def as_regex(node: yaml.Node, report: Report, what: str) -> re.Pattern[str] | None:
    text = as_text(node, report, what)
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as error:
        report.at(node, f"{what} is not a valid regex ({error})")
        return None
