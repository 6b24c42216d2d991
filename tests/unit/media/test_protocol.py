"""The worker line protocol: round trips, wire shapes, and broken lines."""

from __future__ import annotations

import json

import pytest

from callcenter.media import protocol as p

COMMANDS: list[p.Command] = [
    p.Ring(call="c1"),
    p.Answer(call="c1"),
    p.Play(call="c1", files=("/a.wav", "/b.wav"), token="t", loop=True),
    p.StopPlay(call="c1"),
    p.Hangup(call="c1", code=603),
    p.StatsRequest(),
    p.Shutdown(),
]

EVENTS: list[p.Event] = [
    p.Ready(sip_port=5070, pid=42),
    p.Incoming(call="c1", from_uri="<sip:alice@x>", to_uri="<sip:ivr@y>"),
    p.Answered(call="c1"),
    p.Dtmf(call="c1", digit="#", method="info"),
    p.PlayDone(call="c1", token="t"),
    p.HungUp(call="c1", code=200, reason="Normal call clearing", by="remote"),
    p.Error(call=None, cmd="bogus", message="unknown command"),
    p.Stats(calls=2, extra={"players": 1}),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_command_round_trip(command: p.Command) -> None:
    line = p.encode(command)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert p.decode_command(line) == command


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.name)
def test_event_round_trip(event: p.Event) -> None:
    assert p.decode_event(p.encode(event)) == event


def test_wire_shapes_match_the_documented_json() -> None:
    assert json.loads(p.encode(p.Incoming(call="c", from_uri="f", to_uri="t"))) == {
        "ev": "incoming",
        "call": "c",
        "from": "f",
        "to": "t",
    }
    assert json.loads(p.encode(p.Play(call="c", files=("/x.wav",), token="t"))) == {
        "cmd": "play",
        "call": "c",
        "files": ["/x.wav"],
        "token": "t",
        "loop": False,
    }
    assert json.loads(p.encode(p.Stats(calls=1, extra={"calls": 99, "players": 0}))) == {
        "ev": "stats",
        "calls": 1,
        "players": 0,
    }


def test_defaults_apply_when_fields_are_omitted() -> None:
    assert p.decode_command('{"cmd":"hangup","call":"c"}') == p.Hangup(call="c", code=486)
    assert p.decode_command('{"cmd":"play","call":"c","files":["/a"],"token":"t"}') == p.Play(
        call="c", files=("/a",), token="t", loop=False
    )


@pytest.mark.parametrize(
    ("line", "cmd", "call", "fragment"),
    [
        (b"not json", None, None, "not JSON"),
        (b"[1, 2]", None, None, "not a JSON object"),
        (b"\xff\xfe", None, None, "not JSON"),
        (b'{"call":"c"}', None, "c", "missing 'cmd'"),
        (b'{"cmd":"dance","call":"c"}', "dance", "c", "unknown command"),
        (b'{"cmd":"answer"}', "answer", None, "'call'"),
        (b'{"cmd":"answer","call":""}', "answer", None, "'call'"),
        (b'{"cmd":"answer","call":7}', "answer", None, "'call'"),
        (b'{"cmd":"play","call":"c","files":[],"token":"t"}', "play", "c", "files"),
        (b'{"cmd":"play","call":"c","files":["rel.wav"],"token":"t"}', "play", "c", "absolute"),
        (b'{"cmd":"play","call":"c","files":["/a"]}', "play", "c", "'token'"),
        (b'{"cmd":"play","call":"c","files":["/a"],"token":"t","loop":1}', "play", "c", "loop"),
        (b'{"cmd":"hangup","call":"c","code":"486"}', "hangup", "c", "integer"),
        (b'{"cmd":"hangup","call":"c","code":true}', "hangup", "c", "integer"),
        (b'{"cmd":"hangup","call":"c","code":200}', "hangup", "c", "300-699"),
    ],
)
def test_broken_commands_raise_protocol_error_with_context(
    line: bytes, cmd: str | None, call: str | None, fragment: str
) -> None:
    with pytest.raises(p.ProtocolError, match=fragment) as caught:
        p.decode_command(line)
    assert caught.value.cmd == cmd
    assert caught.value.call == call


@pytest.mark.parametrize(
    "line",
    [
        '{"ev":"dtmf","call":"c","digit":"55","method":"rfc4733"}',
        '{"ev":"dtmf","call":"c","digit":"x","method":"rfc4733"}',
        '{"ev":"dtmf","call":"c","digit":"5","method":"inband"}',
        '{"ev":"hangup","call":"c","code":200,"reason":"","by":"nobody"}',
        '{"ev":"ready","sip_port":"5060","pid":1}',
        '{"ev":"wat"}',
        '{"cmd":"answer","call":"c"}',
    ],
)
def test_broken_events_raise_protocol_error(line: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_event(line)


def test_unknown_extra_fields_are_ignored_for_forward_compatibility() -> None:
    line = '{"cmd":"answer","call":"c","video":true}'
    assert p.decode_command(line) == p.Answer(call="c")
