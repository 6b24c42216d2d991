"""The shipped ``ivr_flows/support.yaml``: valid, and it routes callers as documented."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.domain.ivr import (
    Action,
    EnterQueue,
    Flow,
    Hangup,
    IvrSession,
    PlayFile,
    check_files,
    load_flow,
)
from tests.unit.ivr.flowkit import (
    FakeClock,
    ending,
    finish_prompt,
    play_of,
    spoken,
    start_session,
    time_out,
)

SUPPORT = Path(__file__).parents[3] / "ivr_flows" / "support.yaml"
OPEN = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # Wednesday 10:00 BST
SATURDAY = datetime(2026, 6, 13, 9, 0, tzinfo=UTC)
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(SUPPORT)


def test_every_shipped_flow_is_valid() -> None:
    assert check_files(sorted(SUPPORT.parent.glob("*.yaml"))) == []


def _to_language_menu(flow: Flow, moment: datetime) -> tuple[IvrSession, list[Action]]:
    session, actions = start_session(flow, clock=FakeClock(moment))
    assert play_of(actions).prompts == (PlayFile(str(SUPPORT.parent / "chime.wav")),)
    actions = finish_prompt(session, actions)  # chime
    assert spoken(actions) == [("Thank you for calling Example support.", "en")]
    actions = finish_prompt(session, actions)  # greeting
    assert spoken(actions) == [("For English, press 1.", "en"), ("Para español, marque dos.", "es")]
    return session, actions


@pytest.mark.parametrize(
    ("language_key", "menu_key", "queue", "skills", "priority"),
    [
        ("1", "1", "billing", {"billing": 3, "english": 5}, 1),
        ("1", "2", "support", {"tech_support": 2, "english": 5}, 0),
        ("1", "3", "sales", {"sales": 1, "english": 5}, 2),
        ("2", "1", "billing", {"billing": 3, "spanish": 5}, 1),
        ("2", "2", "support", {"tech_support": 2, "spanish": 5}, 0),
        ("2", "3", "sales", {"sales": 1, "spanish": 5}, 2),
    ],
)
def test_menu_choice_picks_queue_and_language_skill(
    flow: Flow,
    language_key: str,
    menu_key: str,
    queue: str,
    skills: dict[str, int],
    priority: int,
) -> None:
    session, _ = _to_language_menu(flow, OPEN)
    actions = session.digit(language_key)
    assert session.variables["lang"] == ("es" if language_key == "2" else "en")
    language = session.variables["lang"]
    assert spoken(actions)[0][1] == language  # main menu in the chosen language
    actions = session.digit(menu_key)
    assert all(lang == language for _, lang in spoken(actions))  # "connecting you..."
    actions = finish_prompt(session, actions)
    assert ending(actions) == EnterQueue(queue, priority, skills)


def test_spanish_main_menu_text(flow: Flow) -> None:
    session, _ = _to_language_menu(flow, OPEN)
    actions = session.digit("2")
    assert spoken(actions) == [
        (
            "Para facturación, marque 1. Para soporte técnico, marque 2. Para ventas, marque 3. "
            "Para escuchar estas opciones de nuevo, marque 9.",
            "es",
        )
    ]


@pytest.mark.parametrize("moment", [SATURDAY, CHRISTMAS, datetime(2026, 6, 10, 17, 0, tzinfo=UTC)])
def test_after_hours_message_then_hangup(flow: Flow, moment: datetime) -> None:
    session, _ = _to_language_menu(flow, moment)
    actions = session.digit("2")
    assert spoken(actions)[0][0].startswith("Nuestra línea de soporte está cerrada")
    actions = finish_prompt(session, actions)
    assert ending(actions) == Hangup("after_hours")
    assert "main_menu" not in session.path


def test_no_language_choice_defaults_to_english(flow: Flow) -> None:
    session, actions = _to_language_menu(flow, OPEN)
    actions = time_out(session, finish_prompt(session, actions))  # 1st try
    actions = time_out(session, finish_prompt(session, actions))  # the one retry
    assert session.variables["lang"] == "en"
    assert session.current_node == "main_menu"


def test_repeat_then_choice(flow: Flow) -> None:
    session, _ = _to_language_menu(flow, OPEN)
    session.digit("1")
    actions = session.digit("9")
    assert spoken(actions)[0][0].startswith("For billing, press 1.")
    session.digit("3")
    assert session.path[-3:] == ["main_menu", "main_menu", "sales"]


def test_three_wrong_choices_get_a_polite_goodbye(flow: Flow) -> None:
    session, _ = _to_language_menu(flow, OPEN)
    session.digit("1")
    actions = session.digit("7")
    assert spoken(actions)[0] == ("Sorry, that is not one of the options.", "en")
    actions = time_out(session, finish_prompt(session, actions))
    assert spoken(actions)[0] == ("Sorry, we did not hear a choice.", "en")
    actions = session.digit("0")
    assert spoken(actions)[0][0].startswith("We could not understand your choice.")
    assert ending(finish_prompt(session, actions)) == Hangup("no_menu_choice")


def test_regular_callers_can_type_ahead(flow: Flow) -> None:
    session, actions = start_session(flow, clock=FakeClock(OPEN))
    session.digit("2")  # during the chime: kept
    session.digit("2")  # kept too
    actions = finish_prompt(session, actions)
    # Greeting skipped, Spanish chosen, main menu answered with the second "2".
    assert session.path == [
        "chime", "greeting", "choose_language", "spanish", "check_hours", "main_menu", "support",
    ]  # fmt: skip
    assert spoken(actions) == [("Le pasamos con soporte técnico. Por favor, espere.", "es")]


def test_every_prompt_is_prerenderable(flow: Flow) -> None:
    prompts = flow.all_prompts()
    assert PlayFile(str(SUPPORT.parent / "chime.wav")) in prompts
    languages = {getattr(prompt, "language", None) for prompt in prompts}
    assert languages == {"en", "es", None}
