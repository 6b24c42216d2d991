"""Messages of offering and bridging: dial, cancel_dial, bridge, unbridge and the leg events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callcenter.media import dialing
from callcenter.media import protocol as p

DIAL: dict[str, Any] = {
    "cmd": "dial",
    "call": "leg-1",
    "peer": "caller-1",
    "uri": "sip:agent1@127.0.0.1:5060",
    "caller_id": "+442079460000",
    "display": "Billing: +442079460000",
    "timeout": 20,
    "headers": {"X-Queue": "billing"},
}


@pytest.mark.parametrize(
    "message",
    [
        p.Dial(
            call="leg-1",
            peer="c1",
            uri="sip:agent1@127.0.0.1:5060",
            caller_id="+4420",
            display='Say "hi" \\ o',
            timeout=7.5,
            headers=(("X-Queue", "billing"), ("Call-Info", "<sip:x>;answer-after=0")),
        ),
        p.Dial(call="leg-1", peer="c1", uri="sips:a@b", caller_id="anonymous"),
        p.CancelDial(call="leg-1"),
        p.Bridge(a="c1", b="leg-1"),
        p.Unbridge(a="c1", b="leg-1"),
    ],
    ids=lambda m: m.name,
)
def test_command_round_trip(message: p.Command) -> None:
    assert p.decode_command(p.encode(message)) == message


@pytest.mark.parametrize(
    "event",
    [
        p.LegRinging(call="leg-1"),
        p.LegAnswered(call="leg-1"),
        p.LegFailed(call="leg-1", code=486, reason="Busy Here"),
        p.LegHold(call="leg-1", held=True),
        p.LegHold(call="leg-1", held=False),
    ],
    ids=lambda e: e.name,
)
def test_event_round_trip(event: p.Event) -> None:
    assert p.decode_event(p.encode(event)) == event


def test_the_documented_dial_decodes_and_encodes_to_the_same_shape() -> None:
    dial = p.command_from_dict(DIAL)
    assert isinstance(dial, p.Dial)
    assert dial.headers == (("X-Queue", "billing"),) and dial.timeout == 20.0
    assert json.loads(p.encode(dial)) == {**DIAL, "timeout": 20.0}
    assert p.command_from_dict(
        {k: v for k, v in DIAL.items() if k not in ("display", "timeout", "headers")}
    ) == p.Dial(call="leg-1", peer="caller-1", uri=DIAL["uri"], caller_id=DIAL["caller_id"])


def test_wire_shapes_of_the_events() -> None:
    assert json.loads(p.encode(p.LegFailed(call="l", code=408, reason="Request Timeout"))) == {
        "ev": "leg_failed",
        "call": "l",
        "code": 408,
        "reason": "Request Timeout",
    }
    assert json.loads(p.encode(p.LegRinging(call="l"))) == {"ev": "leg_ringing", "call": "l"}
    hold = {"ev": "leg_hold", "call": "l", "held": True}
    assert json.loads(p.encode(p.LegHold(call="l", held=True))) == hold
    with pytest.raises(p.ProtocolError, match="held"):
        p.decode_event(json.dumps({**hold, "held": "yes"}))
    assert json.loads(p.encode(p.Bridge(a="x", b="y"))) == {"cmd": "bridge", "a": "x", "b": "y"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"call": "caller-1"}, "must differ"),
        ({"peer": None}, "'peer'"),
        ({"uri": "agent1"}, "'uri'"),
        ({"uri": "sip:a@b>evil"}, "'uri'"),
        ({"caller_id": "+44 20"}, "'caller_id'"),
        ({"caller_id": "x" * 65}, "'caller_id'"),
        ({"caller_id": "<sip:x>"}, "'caller_id'"),
        ({"display": "line\r\nX-Evil: 1"}, "'display'"),
        ({"display": "x" * 129}, "'display'"),
        ({"display": 5}, "'display'"),
        ({"timeout": 0}, "'timeout'"),
        ({"timeout": 601}, "'timeout'"),
        ({"timeout": "20"}, "'timeout'"),
        ({"timeout": True}, "'timeout'"),
        ({"headers": ["X-Queue: billing"]}, "'headers'"),
        ({"headers": {"X-Queue": 1}}, "'headers'"),
        ({"headers": {"X-Queue": "a\r\nVia: evil"}}, "printable"),
        ({"headers": {"X Queue": "a"}}, "token"),
        ({"headers": {"Call-ID": "a"}}, "itself"),
        ({"headers": {"from": "a"}}, "itself"),
    ],
)
def test_bad_dials_are_refused_with_the_reason(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(p.ProtocolError, match=problem) as caught:
        p.command_from_dict({**DIAL, **change})
    assert caught.value.cmd == "dial"


def test_bad_bridges_and_leg_events() -> None:
    with pytest.raises(p.ProtocolError, match="differ"):
        p.decode_command('{"cmd":"bridge","a":"x","b":"x"}')
    with pytest.raises(p.ProtocolError, match="'b'"):
        p.decode_command('{"cmd":"unbridge","a":"x"}')
    with pytest.raises(p.ProtocolError, match="'call'"):
        p.decode_command('{"cmd":"cancel_dial"}')
    with pytest.raises(p.ProtocolError, match="300-699"):
        p.decode_event('{"ev":"leg_failed","call":"l","code":200,"reason":"OK"}')
    with pytest.raises(p.ProtocolError, match="'reason'"):
        p.decode_event('{"ev":"leg_failed","call":"l","code":486,"reason":1}')


def test_the_agent_sees_the_callers_number_and_the_display_name() -> None:
    assert dialing.from_header("+442079460000", "Billing: +442079460000", DIAL["uri"]) == (
        '"Billing: +442079460000" <sip:+442079460000@127.0.0.1:5060>'
    )
    assert dialing.from_header("anonymous", "", "sip:agent1@front.example;transport=tcp") == (
        "<sip:anonymous@front.example>"
    )
    assert dialing.quoted('a "b" \\c') == '"a \\"b\\" \\\\c"'


def test_how_an_unanswered_leg_is_reported() -> None:
    assert dialing.failure(487, "Request Terminated", dialing.TIMEOUT) == (408, "Request Timeout")
    assert dialing.failure(486, "Busy Here", None) == (486, "Busy Here")
    assert dialing.failure(603, "Decline", None) == (603, "Decline")
    assert dialing.failure(0, "", None) == (500, "Call Not Placed")
    assert dialing.failure(200, "Transport failure", None) == (500, "Transport failure")
