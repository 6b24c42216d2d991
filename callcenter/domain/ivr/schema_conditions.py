"""Reading ``condition`` nodes: ordered cases over hours, caller and variables."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from callcenter.domain.ivr.flow import (
    CallerTest,
    Case,
    ConditionNode,
    HoursTest,
    Node,
    Test,
    VariableTest,
)
from callcenter.domain.ivr.graph import Outline
from callcenter.domain.ivr.hours import WEEKDAYS, BusinessHours, TimeRange, parse_time_range
from callcenter.domain.ivr.reader import (
    STR,
    TIMESTAMP,
    as_fields,
    as_list,
    as_regex,
    as_text,
    line_of,
)
from callcenter.domain.ivr.schema import NodeContext

TESTS = ("hours", "caller_matches", "variable")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_condition(ctx: NodeContext) -> tuple[Node | None, Outline]:
    outline = ctx.outline("condition")
    ctx.fields.reject_unknown(
        ["type", "cases", "default"], ctx.report, ctx.prefix, "for a condition node"
    )
    default: str | None = None
    default_node = ctx.fields.get("default")
    if default_node is None:
        outline.missing_exit = "a default"
    else:
        default = as_text(default_node, ctx.report, ctx.what("default"))
        if default is not None:
            outline.edges.append((default, line_of(default_node)))
    cases_node = ctx.require("cases")
    items = None if cases_node is None else as_list(cases_node, ctx.report, ctx.what("cases"))
    if cases_node is not None and items == []:
        ctx.problem(cases_node, "'cases' must not be empty")
    cases = [_case(ctx, outline, item) for item in items or ()]
    if not cases or None in cases or default is None:
        return None, outline
    built = tuple(case for case in cases if case is not None)
    return ConditionNode(ctx.id, built, default), outline


def _case(ctx: NodeContext, outline: Outline, node: yaml.Node) -> Case | None:
    fields = as_fields(node, ctx.report, f"{ctx.prefix}case")
    if fields is None:
        return None
    fields.reject_unknown(
        [*TESTS, "equals", "matches", "next"], ctx.report, ctx.prefix, "in a case"
    )
    target: str | None = None
    next_node = fields.get("next")
    if next_node is None:
        ctx.problem(node, "case is missing 'next'")
    else:
        target = as_text(next_node, ctx.report, f"{ctx.prefix}'next'")
        if target is not None:
            outline.edges.append((target, line_of(next_node)))
    present = [name for name in TESTS if name in fields]
    if len(present) != 1:
        ctx.problem(
            node,
            f"case needs exactly one test of {', '.join(TESTS)}"
            + (f" (found {', '.join(present)})" if present else ""),
        )
        return None
    test: Test | None
    value = fields.get(present[0])
    assert value is not None
    if present[0] == "hours":
        hours = _hours(ctx, value)
        test = None if hours is None else HoursTest(hours)
    elif present[0] == "caller_matches":
        pattern = as_regex(value, ctx.report, ctx.what("caller_matches"))
        test = None if pattern is None else CallerTest(pattern)
    else:
        test = _variable_test(ctx, node, value, fields.get("equals"), fields.get("matches"))
    if present[0] != "variable":
        for key in ("equals", "matches"):
            if key in fields:
                ctx.problem(fields.key_node(key), f"'{key}' only goes with a 'variable' test")
                test = None
    if test is None or target is None:
        return None
    return Case(test, target)


def _variable_test(
    ctx: NodeContext,
    case: yaml.Node,
    name_node: yaml.Node,
    equals_node: yaml.Node | None,
    matches_node: yaml.Node | None,
) -> VariableTest | None:
    name = as_text(name_node, ctx.report, ctx.what("variable"))
    if name is not None:
        ctx.uses.append((line_of(name_node), ctx.id, name))
    if (equals_node is None) == (matches_node is None):
        ctx.problem(case, "a variable test needs exactly one of 'equals' or 'matches'")
        return None
    if equals_node is not None:
        equals = as_text(equals_node, ctx.report, ctx.what("equals"), allow_empty=True)
        return None if name is None or equals is None else VariableTest(name, equals=equals)
    assert matches_node is not None
    pattern = as_regex(matches_node, ctx.report, ctx.what("matches"))
    return None if name is None or pattern is None else VariableTest(name, matches=pattern)


def _hours(ctx: NodeContext, node: yaml.Node) -> BusinessHours | None:
    fields = as_fields(node, ctx.report, ctx.what("hours"))
    if fields is None:
        return None
    fields.reject_unknown(["timezone", "weekly", "holidays"], ctx.report, ctx.prefix, "in hours")
    ok = True
    zone: ZoneInfo | None = None
    zone_node = fields.get("timezone")
    if zone_node is None:
        ctx.problem(node, "hours need a 'timezone'")
    else:
        zone_name = as_text(zone_node, ctx.report, ctx.what("timezone"))
        try:
            zone = None if zone_name is None else ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            ctx.problem(zone_node, f"unknown time zone '{zone_name}'")
    weekly_node = fields.get("weekly")
    weekly: dict[int, tuple[TimeRange, ...]] = {}
    if weekly_node is None:
        ctx.problem(node, "hours need 'weekly' opening times")
        ok = False
    else:
        ok = _weekly(ctx, weekly_node, weekly) and ok
    holidays: set[date] = set()
    holidays_node = fields.get("holidays")
    if holidays_node is not None:
        ok = _holidays(ctx, holidays_node, holidays) and ok
    if zone is None or not ok:
        return None
    return BusinessHours(zone, weekly, frozenset(holidays))


def _weekly(ctx: NodeContext, node: yaml.Node, weekly: dict[int, tuple[TimeRange, ...]]) -> bool:
    fields = as_fields(node, ctx.report, ctx.what("weekly"))
    if fields is None:
        return False
    ok = True
    for day, key_node, value in fields.items():
        if day not in WEEKDAYS:
            ctx.problem(key_node, f"unknown weekday '{day}' (use {', '.join(WEEKDAYS)})")
            ok = False
        items = as_list(value, ctx.report, f"{ctx.prefix}opening times of '{day}'")
        if items is None:
            ok = False
            continue
        spans: list[TimeRange] = []
        for item in items:
            text = item.value if isinstance(item, yaml.ScalarNode) else None
            span = None if not isinstance(text, str) else parse_time_range(text)
            if span is None:
                shown = text if isinstance(text, str) else "…"
                ctx.problem(
                    item, f"bad time range '{shown}' (expected HH:MM-HH:MM, start before end)"
                )
                ok = False
            else:
                spans.append(span)
        if day in WEEKDAYS:
            weekly[WEEKDAYS.index(day)] = tuple(spans)
    return ok


def _holidays(ctx: NodeContext, node: yaml.Node, holidays: set[date]) -> bool:
    items = as_list(node, ctx.report, ctx.what("holidays"))
    if items is None:
        return False
    ok = True
    for item in items:
        day: date | None = None
        text = item.value if isinstance(item, yaml.ScalarNode) else None
        if isinstance(text, str) and item.tag in (STR, TIMESTAMP) and _ISO_DATE.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                day = None
        if day is None:
            shown = text if isinstance(text, str) else "…"
            ctx.problem(item, f"bad date '{shown}' (expected YYYY-MM-DD)")
            ok = False
        else:
            holidays.add(day)
    return ok
