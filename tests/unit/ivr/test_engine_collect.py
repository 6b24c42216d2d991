"""Collect nodes: terminator, lengths, pattern, timeouts, retries, barge-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.ivr import (
    CancelTimer,
    DigitsCollected,
    Flow,
    Hangup,
    NodeEntered,
    StartTimer,
    StopPlayback,
    Transfer,
)
from tests.unit.ivr.flowkit import (
    ending,
    finish_prompt,
    flow_from,
    play_of,
    spoken,
    start_session,
    time_out,
    timer_of,
)

ACCOUNT = """
    version: 1
    start: account
    nodes:
      account:
        type: collect
        prompt: "Enter your account number, then hash."
        into: account
        min_length: 4
        max_length: 6
        pattern: "[1-9][0-9]*"
        timeout: 7
        inter_digit_timeout: 2
        retries: 1
        invalid: "That account number is not valid."
        no_input: "We did not get an account number."
        on: {done: thanks, invalid: agent, no_input: agent}
      thanks: {type: say, say: "Account {account}.", on: {done: queue}}
      queue: {type: queue, queue: billing}
      agent: {type: transfer, target: operator}
"""


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    return flow_from(tmp_path, ACCOUNT)


def test_terminator_ends_entry(flow: Flow) -> None:
    session, actions = start_session(flow)
    actions = finish_prompt(session, actions)
    first_timer = timer_of(actions)
    assert first_timer.seconds == 7
    actions = session.digit("1")
    assert actions[0] == CancelTimer(first_timer.token)
    assert timer_of(actions).seconds == 2  # inter-digit from now on
    for key in "234":
        session.digit(key)
    actions = session.digit("#")
    assert DigitsCollected("account", "account", "1234") in actions
    assert actions[-2] == NodeEntered("thanks", "say")
    assert spoken(actions) == [("Account 1234.", "en")]
    assert session.variables["account"] == "1234"


def test_max_length_ends_entry_without_terminator(flow: Flow) -> None:
    session, actions = start_session(flow)
    for key in "12345":
        actions = session.digit(key)
        assert not any(isinstance(action, NodeEntered) for action in actions)
    actions = session.digit("6")
    assert DigitsCollected("account", "account", "123456") in actions


def test_inter_digit_timeout_ends_entry(flow: Flow) -> None:
    session, actions = start_session(flow)
    for key in "9876":
        actions = session.digit(key)
    actions = time_out(session, actions)
    assert DigitsCollected("account", "account", "9876") in actions


def test_barge_in_first_digit_counts(flow: Flow) -> None:
    session, actions = start_session(flow)
    token = play_of(actions).token
    actions = session.digit("5")
    assert actions == [StopPlayback(), StartTimer(timer_of(actions).token, 2)]
    assert session.playback_done(token) == []
    for key in "555#":
        actions = session.digit(key)
    assert DigitsCollected("account", "account", "5555") in actions


def test_too_short_is_invalid_and_reprompts(flow: Flow) -> None:
    session, actions = start_session(flow)
    session.digit("1")
    actions = session.digit("#")
    assert spoken(actions) == [
        ("That account number is not valid.", "en"),
        ("Enter your account number, then hash.", "en"),
    ]
    for key in "4321#":
        actions = session.digit(key)
    assert session.variables["account"] == "4321"


def test_pattern_mismatch_is_invalid(flow: Flow) -> None:
    session, _ = start_session(flow)
    for key in "0123#":  # leading zero: pattern wants 1-9 first
        actions = session.digit(key)
    assert spoken(actions)[0] == ("That account number is not valid.", "en")
    assert "account" not in session.variables


def test_star_is_a_digit_the_pattern_rejects(flow: Flow) -> None:
    session, _ = start_session(flow)
    for key in "12*4#":
        actions = session.digit(key)
    assert spoken(actions)[0] == ("That account number is not valid.", "en")


def test_invalid_retries_exhausted_takes_branch(flow: Flow) -> None:
    session, _ = start_session(flow)
    session.digit("#")
    actions = session.digit("#")
    assert ending(actions) == Transfer("operator")
    assert session.path == ["account", "agent"]


def test_no_input_then_timeout_takes_no_input_branch(flow: Flow) -> None:
    session, actions = start_session(flow)
    actions = time_out(session, finish_prompt(session, actions))
    assert spoken(actions)[0] == ("We did not get an account number.", "en")
    actions = time_out(session, finish_prompt(session, actions))
    assert session.path == ["account", "agent"]
    assert session.finished


def test_optional_entry_and_no_terminator(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: ext
        nodes:
          ext:
            type: collect
            into: extension
            min_length: 0
            max_length: 3
            terminator: "*"
            on: {done: bye}
          bye: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    assert session.variables.get("extension") is None
    assert timer_of(actions).seconds == 5  # no prompt: wait at once, default timeout
    actions = session.digit("*")
    assert DigitsCollected("ext", "extension", "") in actions
    session, _ = start_session(flow)
    actions = session.digit("#")  # "#" is an ordinary digit here
    assert not session.finished
    actions = session.digit("1")
    actions = session.digit("2")
    assert DigitsCollected("ext", "extension", "#12") in actions


def test_collect_without_branches_hangs_up(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: pin
        nodes:
          pin: {type: collect, into: pin, min_length: 4, max_length: 4, retries: 0, on: {done: ok}}
          ok: {type: hangup}
        """,
    )
    session, _ = start_session(flow)
    session.digit("1")
    assert ending(session.digit("#")) == Hangup("invalid_input")


def test_kept_digits_feed_collect_and_leftovers_stay(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: intro
        nodes:
          intro: {type: say, say: "Hello.", on: {done: pin}}
          pin: {type: collect, prompt: "PIN?", into: pin, max_length: 8, on: {done: menu}}
          menu:
            type: menu
            prompt: "1 or 2."
            options: {"1": one, "2": two}
          one: {type: queue, queue: one}
          two: {type: queue, queue: two}
        """,
    )
    session, actions = start_session(flow)
    for key in "12#2":
        session.digit(key)
    actions = finish_prompt(session, actions)
    assert DigitsCollected("pin", "pin", "12") in actions
    assert session.path == ["intro", "pin", "menu", "two"]
    assert spoken(actions) == []  # no prompt was needed


def test_kept_digits_without_end_wait_for_more(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: intro
        nodes:
          intro: {type: say, say: "Hello.", on: {done: pin}}
          pin: {type: collect, prompt: "PIN?", into: pin, on: {done: bye}}
          bye: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    session.digit("4")
    actions = finish_prompt(session, actions)
    assert spoken(actions) == []  # the caller is already typing: no prompt
    assert timer_of(actions).seconds == 3
    session.digit("2")
    assert DigitsCollected("pin", "pin", "42") in session.digit("#")
