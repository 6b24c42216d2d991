"""Monitor codes, mode keys and who hears the supervisor in each mode."""

from __future__ import annotations

import pytest

from callcenter.domain.monitor import (
    Hearing,
    Mode,
    MonitorRequest,
    hearing,
    mode_for_key,
    parse_monitor_code,
)

CODES = {Mode.LISTEN: "*50", Mode.WHISPER: "*51", Mode.BARGE: "*52"}


@pytest.mark.parametrize(
    ("did", "expected"),
    [
        ("*50ann", MonitorRequest(Mode.LISTEN, "ann")),
        ("*51ann", MonitorRequest(Mode.WHISPER, "ann")),
        ("*52101", MonitorRequest(Mode.BARGE, "101")),
        ("%2A51ann", MonitorRequest(Mode.WHISPER, "ann")),  # an escaped *
        ("*50", None),  # no agent
        ("*53ann", None),
        ("100", None),
        ("*50" + "a" * 65, None),  # absurdly long
    ],
)
def test_parse_monitor_code(did: str, expected: MonitorRequest | None) -> None:
    assert parse_monitor_code(did, CODES) == expected


def test_the_longest_code_wins_when_one_is_a_prefix_of_another() -> None:
    codes = {Mode.LISTEN: "*5", Mode.WHISPER: "*55", Mode.BARGE: "*56"}
    assert parse_monitor_code("*55ann", codes) == MonitorRequest(Mode.WHISPER, "ann")
    assert parse_monitor_code("*5ann", codes) == MonitorRequest(Mode.LISTEN, "ann")


def test_who_hears_the_supervisor() -> None:
    assert hearing(Mode.LISTEN) == Hearing(caller=False, agent=False)
    assert hearing(Mode.WHISPER) == Hearing(caller=False, agent=True)
    assert hearing(Mode.BARGE) == Hearing(caller=True, agent=True)


def test_dtmf_keys_switch_modes_like_chanspy() -> None:
    assert [mode_for_key(k) for k in "456"] == [Mode.LISTEN, Mode.WHISPER, Mode.BARGE]
    assert mode_for_key("1") is None and mode_for_key("#") is None
