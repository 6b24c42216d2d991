"""Messages of recording: record, pause_record, resume_record, stop_record and their events."""

from __future__ import annotations

import json

import pytest

from callcenter.media import protocol as p


@pytest.mark.parametrize(
    "message",
    [
        p.Record(call="c1", left="c1", right="leg-1", left_file="/s/c1.l.wav",
                 right_file="/s/c1.r.wav"),
        p.RecordIvr(call="c1#ivr", leg="c1", left_file="/s/l.wav", right_file="/s/r.wav"),
        p.PauseRecord(call="c1"),
        p.ResumeRecord(call="c1"),
        p.StopRecord(call="c1"),
    ],
)  # fmt: skip
def test_commands_round_trip(message: p.Command) -> None:
    assert p.decode_command(p.encode(message)) == message


@pytest.mark.parametrize(
    "message",
    [p.RecordStarted(call="c1"),
     p.Recorded(call="c1", left_file="/s/l.wav", right_file="/s/r.wav", seconds=61.25)],
)  # fmt: skip
def test_events_round_trip(message: p.Event) -> None:
    assert p.decode_event(p.encode(message)) == message


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"right": "c1"}, "'left' and 'right' must differ"),
        ({"left_file": "relative.wav"}, "absolute paths"),
        ({"right_file": "/s/l.wav"}, "must differ"),
        ({"left": ""}, "'left' must be a non-empty string"),
    ],
)
def test_a_bad_record_command_is_refused_with_its_reason(
    changes: dict[str, str], problem: str
) -> None:
    line = {"cmd": "record", "call": "c1", "left": "c1", "right": "leg-1",
            "left_file": "/s/l.wav", "right_file": "/s/r.wav", **changes}  # fmt: skip
    with pytest.raises(p.ProtocolError, match=problem) as caught:
        p.decode_command(json.dumps(line))
    assert caught.value.cmd == "record" and caught.value.call == "c1"


def test_a_recorded_event_needs_its_seconds() -> None:
    with pytest.raises(p.ProtocolError, match="'seconds' must be a non-negative number"):
        p.decode_event('{"ev":"recorded","call":"c1","left_file":"/l","right_file":"/r"}')
