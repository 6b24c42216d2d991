"""Menu nodes: choices, barge-in, timeouts, retries, repeat, stale tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.ivr import (
    CancelTimer,
    EnterQueue,
    Flow,
    Hangup,
    NodeEntered,
    Play,
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

MENU = """
    version: 1
    start: menu
    nodes:
      menu:
        type: menu
        prompt: "Press 1 for billing, 2 for sales, 9 to repeat."
        options: {"1": billing, "2": sales, "9": menu}
        timeout: 4
        retries: 2
        invalid: "Not a valid choice."
        no_input: "We did not hear you."
        on: {invalid: bye, no_input: silent}
      billing: {type: queue, queue: billing, skills: {billing: 3}}
      sales: {type: queue, queue: sales, priority: 2}
      bye: {type: hangup, reason: bad_choice}
      silent: {type: hangup, reason: silent_caller}
"""


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    return flow_from(tmp_path, MENU)


def test_start_plays_interruptible_prompt(flow: Flow) -> None:
    _, actions = start_session(flow)
    assert actions[0] == NodeEntered("menu", "menu")
    play = play_of(actions)
    assert play.interruptible
    assert spoken(actions) == [("Press 1 for billing, 2 for sales, 9 to repeat.", "en")]


def test_digit_after_prompt_chooses_queue_and_cancels_timer(flow: Flow) -> None:
    session, actions = start_session(flow)
    actions = finish_prompt(session, actions)
    timer = timer_of(actions)
    assert timer.seconds == 4
    actions = session.digit("1")
    assert actions[0] == CancelTimer(timer.token)
    assert ending(actions) == EnterQueue("billing", 0, {"billing": 3})
    assert session.finished
    assert session.path == ["menu", "billing"]
    assert session.current_node == "billing"


def test_other_option_chooses_other_queue(flow: Flow) -> None:
    session, actions = start_session(flow)
    finish_prompt(session, actions)
    assert ending(session.digit("2")) == EnterQueue("sales", 2, {})


def test_barge_in_stops_prompt_and_counts(flow: Flow) -> None:
    session, actions = start_session(flow)
    token = play_of(actions).token
    actions = session.digit("2")
    assert actions[0] == StopPlayback()
    assert ending(actions) == EnterQueue("sales", 2, {})
    assert session.playback_done(token) == []


def test_invalid_digit_reprompts_with_invalid_prompt_first(flow: Flow) -> None:
    session, actions = start_session(flow)
    finish_prompt(session, actions)
    actions = session.digit("7")
    assert spoken(actions) == [
        ("Not a valid choice.", "en"),
        ("Press 1 for billing, 2 for sales, 9 to repeat.", "en"),
    ]
    assert not session.finished
    finish_prompt(session, actions)
    assert ending(session.digit("1")) == EnterQueue("billing", 0, {"billing": 3})


def test_no_input_reprompts_with_no_input_prompt(flow: Flow) -> None:
    session, actions = start_session(flow)
    actions = time_out(session, finish_prompt(session, actions))
    assert spoken(actions)[0] == ("We did not hear you.", "en")
    assert not session.finished


def test_invalid_retries_exhausted_takes_invalid_branch(flow: Flow) -> None:
    session, actions = start_session(flow)
    for _ in range(2):  # first attempt + 1st retry fail, each re-prompts
        actions = session.digit("5")
        assert isinstance(actions[-1], Play)
    actions = session.digit("5")  # 2nd retry fails too: retries exhausted
    assert ending(actions) == Hangup("bad_choice")
    assert session.path == ["menu", "bye"]


def test_no_input_retries_exhausted_takes_no_input_branch(flow: Flow) -> None:
    session, actions = start_session(flow)
    for _ in range(3):
        actions = time_out(session, finish_prompt(session, actions))
    assert ending(actions) == Hangup("silent_caller")


def test_retries_count_invalid_and_no_input_together_last_failure_decides(flow: Flow) -> None:
    session, actions = start_session(flow)
    actions = session.digit("5")
    actions = time_out(session, finish_prompt(session, actions))
    actions = session.digit("5")
    assert ending(actions) == Hangup("bad_choice")


def test_repeat_option_loops_back_and_resets_retries(flow: Flow) -> None:
    session, actions = start_session(flow)
    session.digit("5")  # one failed attempt
    session.digit("5")  # two
    actions = session.digit("9")  # repeat: a fresh visit
    assert spoken(actions) == [("Press 1 for billing, 2 for sales, 9 to repeat.", "en")]
    session.digit("5")
    actions = session.digit("5")
    assert not session.finished  # the retry budget started again
    assert ending(session.digit("2")) == EnterQueue("sales", 2, {})
    assert session.path == ["menu", "menu", "sales"]
    assert session.digits == ["5", "5", "9", "5", "5", "2"]


def test_menu_without_branches_hangs_up(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: menu
        nodes:
          menu:
            type: menu
            prompt: "Press 1."
            options: {"1": done}
            retries: 0
          done: {type: hangup}
        """,
    )
    session, _ = start_session(flow)
    assert ending(session.digit("4")) == Hangup("invalid_input")
    session, actions = start_session(flow)
    assert ending(time_out(session, finish_prompt(session, actions))) == Hangup("no_input")


def test_stale_tokens_are_ignored(flow: Flow) -> None:
    session, actions = start_session(flow)
    first_play = play_of(actions).token
    actions = finish_prompt(session, actions)
    first_timer = timer_of(actions).token
    actions = session.digit("5")  # invalid: cancels the timer, plays again
    assert CancelTimer(first_timer) in actions
    assert session.timer_fired(first_timer) == []
    assert session.playback_done(first_play) == []
    assert session.playback_done("nonsense") == []
    assert session.timer_fired("menu:timer:999") == []
    # The live token still works.
    assert isinstance(finish_prompt(session, actions)[0], StartTimer)


def test_events_after_the_end_do_nothing(flow: Flow) -> None:
    session, actions = start_session(flow)
    token = play_of(actions).token
    session.digit("1")
    assert session.digit("2") == []
    assert session.playback_done(token) == []
    assert session.digits == ["1", "2"]


def test_start_twice_and_bad_digit_are_programming_errors(flow: Flow) -> None:
    session, _ = start_session(flow)
    with pytest.raises(RuntimeError):
        session.start()
    with pytest.raises(ValueError, match="not a DTMF key"):
        session.digit("x")
    with pytest.raises(ValueError):
        session.digit("12")


def test_lowercase_letter_keys_are_accepted(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: menu
        nodes:
          menu: {type: menu, prompt: "Press A.", options: {A: a}}
          a: {type: transfer, target: "1001"}
        """,
    )
    session, _ = start_session(flow)
    assert ending(session.digit("a")) == Transfer("1001")


def test_menu_without_prompt_starts_timer_at_once(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: menu
        nodes:
          menu: {type: menu, options: {"1": a}, timeout: 2.5, retries: 0}
          a: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    assert timer_of(actions).seconds == 2.5
    assert ending(time_out(session, actions)) == Hangup("no_input")
