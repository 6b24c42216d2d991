"""Tap commands and events on the wire: round trips and refused shapes."""

from __future__ import annotations

import pytest

from callcenter.media import protocol


@pytest.mark.parametrize(
    "message",
    [
        protocol.TapOpen("m-c", "m-s", "127.0.0.1", 4000, ("call", "leg"), ("leg",)),
        protocol.TapSet("m-c", ("call", "leg"), ()),
        protocol.TapClose("m-c"),
    ],
)
def test_tap_commands_round_trip(message: protocol.Command) -> None:
    assert protocol.decode_command(protocol.encode(message)) == message


def test_tap_events_round_trip() -> None:
    closed = protocol.TapClosed("m-c", sent=10, received=9, underruns=1, dropped=0)
    assert protocol.decode_event(protocol.encode(closed)) == closed
    ready = protocol.Ready(sip_port=5062, pid=42, tap_port=40000)
    assert protocol.decode_event(protocol.encode(ready)) == ready
    # A worker from before taps existed: no tap_port.
    assert protocol.decode_event(b'{"ev":"ready","sip_port":1,"pid":2}').tap_port == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "line",
    [
        b'{"cmd":"tap","tap":"m","peer_tap":"n","peer_host":"127.0.0.1","peer_port":0}',
        b'{"cmd":"tap","tap":"","peer_tap":"n","peer_host":"127.0.0.1","peer_port":4000}',
        b'{"cmd":"tap","tap":"m","peer_tap":"n","peer_host":"h","peer_port":1,"listen_to":"x"}',
        b'{"cmd":"tap_set","tap":"m","talk_to":[1]}',
        b'{"cmd":"tap_close"}',
    ],
)
def test_bad_tap_commands_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_command(line)
