"""Condition nodes: business hours, caller patterns, variables; set nodes; loop guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from callcenter.domain.ivr import Flow, Hangup, HoursChecked, NodeEntered, Transfer
from tests.unit.ivr.flowkit import FakeClock, ending, flow_from, start_session

HOURS = """
    version: 1
    start: check
    nodes:
      check:
        type: condition
        cases:
          - hours:
              timezone: Europe/London
              weekly:
                mon: ["08:00-12:00", "13:00-18:00"]
                fri: ["08:00-18:00"]
                sat: ["22:00-24:00"]
              holidays: [2026-12-25, "2026-04-06"]
            next: open
        default: closed
      open: {type: transfer, target: open}
      closed: {type: transfer, target: closed}
"""


@pytest.fixture
def hours_flow(tmp_path: Path) -> Flow:
    return flow_from(tmp_path, HOURS)


def _answer(flow: Flow, moment: datetime) -> str:
    _, actions = start_session(flow, clock=FakeClock(moment))
    result = ending(actions)
    assert isinstance(result, Transfer)
    return result.target


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 12, 8, 0, tzinfo=UTC), "open"),  # Monday 08:00 GMT, opening minute
        (datetime(2026, 1, 12, 7, 59, tzinfo=UTC), "closed"),
        (datetime(2026, 1, 12, 12, 30, tzinfo=UTC), "closed"),  # lunch gap
        (datetime(2026, 1, 12, 17, 59, tzinfo=UTC), "open"),
        (datetime(2026, 1, 12, 18, 0, tzinfo=UTC), "closed"),  # closing minute is closed
        (datetime(2026, 1, 13, 10, 0, tzinfo=UTC), "closed"),  # Tuesday: not listed
        (datetime(2026, 1, 17, 23, 59, tzinfo=UTC), "open"),  # Saturday until 24:00
        (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), "closed"),  # a Friday, but a holiday
        (datetime(2026, 4, 6, 10, 0, tzinfo=UTC), "closed"),  # a Monday, holiday
    ],
)
def test_business_hours(hours_flow: Flow, moment: datetime, expected: str) -> None:
    assert _answer(hours_flow, moment) == expected


def test_the_hours_test_is_reported_open_or_closed(hours_flow: Flow) -> None:
    """The history marks a call after hours from this (event ``ivr.hours``)."""
    _, actions = start_session(hours_flow, clock=FakeClock(datetime(2026, 1, 12, 9, 0, tzinfo=UTC)))
    assert HoursChecked("check", True) in actions
    _, actions = start_session(hours_flow, clock=FakeClock(datetime(2026, 1, 13, 9, 0, tzinfo=UTC)))
    assert HoursChecked("check", False) in actions


def test_hours_use_the_flow_time_zone_not_the_clock_zone(hours_flow: Flow) -> None:
    # 09:00 in New York on a Monday in January is 14:00 in London: open.
    new_york = timezone(timedelta(hours=-5))
    assert _answer(hours_flow, datetime(2026, 1, 12, 9, 0, tzinfo=new_york)) == "open"
    # Sunday 23:30 in London is Monday 00:30 in Tokyo; London is closed on Sunday.
    tokyo = timezone(timedelta(hours=9))
    assert _answer(hours_flow, datetime(2026, 1, 19, 8, 30, tzinfo=tokyo)) == "closed"


def test_hours_follow_dst(hours_flow: Flow) -> None:
    # London moves to BST (UTC+1) on Sunday 2026-03-29.
    assert _answer(hours_flow, datetime(2026, 3, 27, 7, 30, tzinfo=UTC)) == "closed"  # 07:30 GMT
    assert _answer(hours_flow, datetime(2026, 3, 30, 7, 30, tzinfo=UTC)) == "open"  # 08:30 BST
    assert _answer(hours_flow, datetime(2026, 3, 30, 17, 30, tzinfo=UTC)) == "closed"  # 18:30
    # Back to GMT on Sunday 2026-10-25.
    assert _answer(hours_flow, datetime(2026, 10, 23, 7, 0, tzinfo=UTC)) == "open"  # 08:00 BST
    assert _answer(hours_flow, datetime(2026, 10, 26, 7, 0, tzinfo=UTC)) == "closed"  # 07:00 GMT


def test_holiday_is_the_local_date(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        HOURS.replace("Europe/London", "America/New_York")
        .replace(
            'sat: ["22:00-24:00"]', 'sat: ["00:00-24:00"]\n                sun: ["00:00-24:00"]'
        )
        .replace('[2026-12-25, "2026-04-06"]', '["2026-07-04"]'),
    )
    # Sunday 02:00 UTC is still Saturday 4 July (a holiday) 22:00 in New York.
    assert _answer(flow, datetime(2026, 7, 5, 2, 0, tzinfo=UTC)) == "closed"
    # Sunday 05:00 UTC is Sunday 01:00 in New York.
    assert _answer(flow, datetime(2026, 7, 5, 5, 0, tzinfo=UTC)) == "open"


def test_clock_is_read_when_the_condition_runs(hours_flow: Flow) -> None:
    clock = FakeClock(datetime(2026, 1, 12, 7, 0, tzinfo=UTC))
    session, _ = start_session(hours_flow, clock=clock)
    assert session.path == ["check", "closed"]
    clock.now = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    session, _ = start_session(hours_flow, clock=clock)
    assert session.path == ["check", "open"]


def test_naive_clock_is_refused(hours_flow: Flow) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start_session(hours_flow, clock=FakeClock(datetime(2026, 1, 12, 9, 0)))


ROUTING = """
    version: 1
    start: route
    variables: {tier: standard}
    nodes:
      route:
        type: condition
        cases:
          - caller_matches: "^\\\\+33"
            next: france
          - variable: tier
            equals: gold
            next: vip
          - variable: caller
            matches: "^\\\\+1(212|646)"
            next: nyc
        default: other
      france: {type: transfer, target: france}
      vip: {type: transfer, target: vip}
      nyc: {type: transfer, target: nyc}
      other: {type: transfer, target: other}
"""


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("+33142685300", "france"),
        ("+4433142685300", "other"),  # "+33" must be at the start
        ("+12125550100", "nyc"),
        ("+13125550100", "other"),
        ("", "other"),
    ],
)
def test_caller_and_variable_patterns(tmp_path: Path, caller: str, expected: str) -> None:
    flow = flow_from(tmp_path, ROUTING)
    _, actions = start_session(flow, caller=caller)
    assert ending(actions) == Transfer(expected)


def test_variable_equality_after_set_and_first_match_wins(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        ROUTING.replace("start: route", "start: upgrade")
        + "      upgrade: {type: set, set: {tier: gold}, on: {done: route}}\n",
    )
    _, actions = start_session(flow, caller="+33142685300")
    assert ending(actions) == Transfer("france")  # first case wins over the gold tier
    session, actions = start_session(flow, caller="+12125550100")
    assert ending(actions) == Transfer("vip")
    assert session.variables["tier"] == "gold"
    assert session.path == ["upgrade", "route", "vip"]


def test_zero_wait_loop_is_cut_off(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: count
        variables: {stop: "no"}
        nodes:
          count: {type: set, set: {stop: "no"}, on: {done: check}}
          check:
            type: condition
            cases:
              - variable: stop
                equals: "yes"
                next: out
            default: count
          out: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    assert ending(actions) == Hangup("loop")
    assert session.finished
    assert len(session.path) == 100
    assert sum(isinstance(action, NodeEntered) for action in actions) == 100


def test_loop_guard_counts_per_event_not_per_call(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: menu
        nodes:
          menu:
            type: menu
            prompt: "9 to repeat."
            options: {"9": again, "1": out}
          again: {type: set, set: {x: "1"}, on: {done: menu}}
          out: {type: hangup}
        """,
    )
    session, _ = start_session(flow)
    for _ in range(120):  # 240 node entries in all, 2 per digit
        session.digit("9")
    assert not session.finished
    assert ending(session.digit("1")) == Hangup("normal")
