"""Checks on the shape of a flow: targets, reachability, ways out.

Works on a line-annotated outline of the nodes, not on the built flow, so it
can run even when some nodes failed schema checks and still point each
problem at the right line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.domain.ivr.reader import Report


@dataclass
class Outline:
    """What the graph checks need to know about one node.

    ``ends`` is true for terminal nodes and for nodes with an implicit
    hangup (a menu or collect without an ``invalid``/``no_input`` branch).
    ``missing_exit`` names the way out a non-terminal node lacks, if any.
    ``checked`` is false for a node whose type is unknown: its exits cannot
    be judged, so only its targets are checked.
    """

    id: str
    line: int
    kind: str
    edges: list[tuple[str, int]] = field(default_factory=list)
    ends: bool = False
    missing_exit: str | None = None
    checked: bool = True


def check_graph(
    start: str | None, start_line: int, outlines: Mapping[str, Outline], report: Report
) -> None:
    """Report unknown targets, a missing start, unreachable nodes and dead ends."""
    for outline in outlines.values():
        for target, line in outline.edges:
            if target not in outlines:
                report.at_line(line, f"node '{outline.id}': unknown target '{target}'")
    if start is not None and start not in outlines:
        report.at_line(start_line, f"start node '{start}' is not defined")
    elif start is not None:
        reached = _reachable(start, outlines)
        for outline in outlines.values():
            if outline.id not in reached:
                report.at_line(
                    outline.line, f"node '{outline.id}' is unreachable from start '{start}'"
                )
    _check_ways_out(outlines, report)


def _reachable(start: str, outlines: Mapping[str, Outline]) -> set[str]:
    seen = {start}
    pending = [start]
    while pending:
        for target, _ in outlines[pending.pop()].edges:
            if target in outlines and target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _check_ways_out(outlines: Mapping[str, Outline], report: Report) -> None:
    for outline in outlines.values():
        if outline.checked and outline.missing_exit is not None:
            report.at_line(
                outline.line,
                f"node '{outline.id}' is a dead end: a {outline.kind} node needs "
                f"{outline.missing_exit}",
            )
    # Nodes already reported (or unjudgeable) count as ending, so one mistake
    # is not echoed by every node upstream of it.
    can_end = {
        o.id for o in outlines.values() if o.ends or not o.checked or o.missing_exit is not None
    }
    changed = True
    while changed:
        changed = False
        for outline in outlines.values():
            if outline.id not in can_end and any(
                t in can_end or t not in outlines for t, _ in outline.edges
            ):
                can_end.add(outline.id)
                changed = True
    for outline in outlines.values():
        if outline.id not in can_end and outline.missing_exit is None and outline.edges:
            report.at_line(
                outline.line,
                f"node '{outline.id}' never reaches a queue, transfer or hangup",
            )
