"""Say and play nodes: languages, variables, files, interruptible prompts, type-ahead."""

from __future__ import annotations

from pathlib import Path

from callcenter.domain.ivr import (
    CallContext,
    EnterQueue,
    Hangup,
    IvrSession,
    MenuChosen,
    NodeEntered,
    Play,
    PlayFile,
    Say,
    StopPlayback,
)
from tests.unit.ivr.flowkit import (
    FakeClock,
    ending,
    finish_prompt,
    flow_from,
    play_of,
    spoken,
    start_session,
    time_out,
)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


def test_say_then_done_goes_to_next(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: hello
        nodes:
          hello: {type: say, say: "Hello.", on: {done: bye}}
          bye: {type: hangup, reason: finished}
        """,
    )
    session, actions = start_session(flow)
    assert actions == [
        NodeEntered("hello", "say"),
        Play((Say("Hello.", "en"),), play_of(actions).token, False),
    ]
    assert finish_prompt(session, actions) == [NodeEntered("bye", "hangup"), Hangup("finished")]
    assert session.path == ["hello", "bye"]


def test_say_several_prompts_in_one_play(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: hello
        nodes:
          hello:
            type: say
            say: ["One.", {en: "Two.", es: "Dos."}, {say: "Tres.", language: es}]
            on: {done: bye}
          bye: {type: hangup}
        """,
    )
    _, actions = start_session(flow)
    assert spoken(actions) == [("One.", "en"), ("Two.", "en"), ("Tres.", "es")]


def test_language_follows_lang_variable_with_fallback(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: pick
        nodes:
          pick: {type: set, set: {lang: es}, on: {done: hello}}
          hello:
            type: say
            say: [{en: "Hello.", es: "Hola."}, {en: "Only English."}, "Plain."]
            on: {done: bye}
          bye: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    assert session.variables["lang"] == "es"
    assert spoken(actions) == [("Hola.", "es"), ("Only English.", "en"), ("Plain.", "en")]


def test_unknown_lang_falls_back_to_flow_language(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: pick
        language: es
        nodes:
          pick: {type: set, set: {lang: fr}, on: {done: hello}}
          hello: {type: say, say: {en: "Hello.", es: "Hola."}, on: {done: bye}}
          bye: {type: hangup}
        """,
    )
    _, actions = start_session(flow)
    assert spoken(actions) == [("Hola.", "es")]


def test_variables_are_substituted(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: remember
        variables: {company: Example, greeting: ""}
        nodes:
          remember:
            type: set
            set: {greeting: "Hi {caller}", twice: "{greeting}!"}
            on: {done: hello}
          hello:
            type: say
            say: "{greeting}, welcome to {company} on {did}. {{literal}} {unset_later}"
            on: {done: later}
          later: {type: set, set: {unset_later: x}, on: {done: bye}}
          bye: {type: hangup}
        """,
    )
    session, actions = start_session(flow, caller="+15550100")
    assert spoken(actions) == [
        ("Hi +15550100, welcome to Example on +441632960999. {literal} ", "en")
    ]
    assert session.variables["twice"] == "Hi +15550100!"
    assert session.variables["call_id"] == "call-1"


def test_play_file_resolves_relative_to_flow(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "welcome.wav").write_bytes(WAV)
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: welcome
        nodes:
          welcome: {type: play, play: [audio/welcome.wav, audio/welcome.wav], on: {done: bye}}
          bye: {type: hangup}
        """,
    )
    path = str((tmp_path / "audio" / "welcome.wav").resolve())
    _, actions = start_session(flow)
    assert play_of(actions).prompts == (PlayFile(path), PlayFile(path))
    assert flow.all_prompts() == (PlayFile(path),)


def test_all_prompts_lists_static_texts_once(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: menu
        nodes:
          menu:
            type: menu
            prompt: {en: "Press 1.", es: "Marque 1."}
            invalid: "Press 1, {caller}."
            no_input: ["Press 1.", "{{braces}}"]
            options: {"1": bye}
          bye: {type: hangup}
        """,
    )
    assert flow.all_prompts() == (
        Say("Press 1.", "en"),
        Say("Marque 1.", "es"),
        Say("{braces}", "en"),
    )


SKIPPABLE = """
    version: 1
    start: greeting
    nodes:
      greeting: {type: say, say: "Welcome.", interruptible: true, on: {done: notice}}
      notice: {type: say, say: "Calls are recorded.", on: {done: menu}}
      menu:
        type: menu
        prompt: "Press 1 or 2."
        options: {"1": one, "2": two}
      one: {type: queue, queue: one}
      two: {type: queue, queue: two}
"""


def test_interruptible_say_stops_and_digit_reaches_next_menu(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, SKIPPABLE)
    session, actions = start_session(flow)
    token = play_of(actions).token
    actions = session.digit("2")
    assert actions[:2] == [StopPlayback(), NodeEntered("notice", "say")]
    assert session.playback_done(token) == []
    # The notice is not interruptible: it plays in full, then the kept digit chooses.
    actions = finish_prompt(session, actions)
    assert actions == [
        NodeEntered("menu", "menu"),
        MenuChosen("menu", "2", "two"),
        NodeEntered("two", "queue"),
        ending(actions),
    ]
    assert ending(actions) == EnterQueue("two", 0, {})


def test_digits_during_uninterruptible_prompt_are_kept_in_order(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, SKIPPABLE)
    session, actions = start_session(flow)
    actions = finish_prompt(session, actions)  # greeting done, notice playing
    assert session.digit("1") == []
    assert session.digit("2") == []
    actions = finish_prompt(session, actions)
    assert ending(actions) == EnterQueue("one", 0, {})
    assert session.digits == ["1", "2"]


def test_digit_before_start_is_type_ahead(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, SKIPPABLE)
    session = IvrSession(flow, CallContext("c", "+1", "+2"), FakeClock())
    assert session.digit("2") == []
    actions = session.start()
    # The interruptible greeting is skipped; the notice still plays.
    assert actions == [
        NodeEntered("greeting", "say"),
        NodeEntered("notice", "say"),
        play_of(actions),
    ]


def test_type_ahead_is_capped(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        """
        version: 1
        start: notice
        nodes:
          notice: {type: say, say: "Listen.", on: {done: account}}
          account:
            type: collect
            into: account
            max_length: 40
            terminator: ""
            on: {done: bye}
          bye: {type: hangup}
        """,
    )
    session, actions = start_session(flow)
    for _ in range(40):
        session.digit("5")
    actions = finish_prompt(session, actions)
    # 32 kept digits were fed to the collect; it now waits for more.
    actions = time_out(session, actions)
    assert session.variables["account"] == "5" * 32
