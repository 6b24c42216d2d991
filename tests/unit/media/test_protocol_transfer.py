"""Blind transfer on the worker line protocol: the command, its two outcomes, the target rule
and how the worker decides an outcome from what pjsua2 reports."""

from __future__ import annotations

import json

import pytest

from callcenter.media import protocol as p
from callcenter.media.transfer import TransferProgress, dialled_hostport, refer_uri, request_uri


@pytest.mark.parametrize(
    "message",
    [
        p.Transfer(call="c1", target="1001"),
        p.Transfer(call="c1", target="sip:sales@pbx.example.com;transport=tcp"),
        p.Transferred(call="c1", target="sip:1001@203.0.113.5:5060", status=200),
        p.TransferFailed(call="c1", target="sip:1001@x", code=405, reason="Method Not Allowed"),
    ],
    ids=lambda m: m.name,
)
def test_transfer_messages_round_trip(message: p.Command | p.Event) -> None:
    line = p.encode(message)
    decoded = p.decode_command(line) if isinstance(message, p.Command) else p.decode_event(line)
    assert decoded == message


def test_transfer_wire_shapes_match_the_documented_json() -> None:
    assert json.loads(p.encode(p.Transfer(call="c", target="1001"))) == {
        "cmd": "transfer",
        "call": "c",
        "target": "1001",
    }
    assert json.loads(p.encode(p.Transferred(call="c", target="sip:1@h", status=202))) == {
        "ev": "transferred",
        "call": "c",
        "target": "sip:1@h",
        "status": 202,
    }
    assert json.loads(
        p.encode(p.TransferFailed(call="c", target="sip:1@h", code=501, reason="Not Impl"))
    ) == {
        "ev": "transfer_failed",
        "call": "c",
        "target": "sip:1@h",
        "code": 501,
        "reason": "Not Impl",
    }


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"cmd":"transfer","call":"c"}', "'target'"),
        ('{"cmd":"transfer","call":"c","target":""}', "'target'"),
        ('{"cmd":"transfer","call":"c","target":42}', "'target'"),
        ('{"cmd":"transfer","target":"1001"}', "'call'"),
        ('{"cmd":"transfer","call":"c","target":"sales desk"}', "bare number or name"),
        ('{"cmd":"transfer","call":"c","target":"1001>\\r\\nX-Evil: 1"}', "bare number or name"),
        ('{"cmd":"transfer","call":"c","target":"sip:a@b>;x"}', "without spaces"),
        ('{"cmd":"transfer","call":"c","target":"sip:a@b c"}', "without spaces"),
        ('{"cmd":"transfer","call":"c","target":"' + "9" * 300 + '"}', "longer than"),
    ],
)
def test_a_target_that_could_break_the_refer_to_header_is_refused(line: str, fragment: str) -> None:
    with pytest.raises(p.ProtocolError, match=fragment) as caught:
        p.decode_command(line)
    assert caught.value.cmd == "transfer"


@pytest.mark.parametrize(
    "line",
    [
        '{"ev":"transferred","call":"c","target":"sip:x@y","status":486}',
        '{"ev":"transferred","call":"c","target":"sip:x@y","status":"200"}',
        '{"ev":"transferred","call":"c","status":200}',
        '{"ev":"transfer_failed","call":"c","target":"sip:x@y","reason":"No"}',
        '{"ev":"transfer_failed","call":"c","target":"sip:x@y","code":405,"reason":5}',
    ],
)
def test_broken_transfer_events_raise_protocol_error(line: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_event(line)


@pytest.mark.parametrize(
    ("target", "to_uri", "expected"),
    [
        ("1001", "<sip:100@127.0.0.1:5060>", "sip:1001@127.0.0.1:5060"),
        ("sales", '"Support" <sip:support@203.0.113.5;user=phone>', "sip:sales@203.0.113.5"),
        ("+442079460000", "sip:+15550100@pbx.example.com", "sip:+442079460000@pbx.example.com"),
        ("1001", "<sips:100@[2001:db8::1]:5061>", "sip:1001@[2001:db8::1]:5061"),
        ("sip:agent@10.0.0.7:5070", "<sip:100@127.0.0.1:5060>", "sip:agent@10.0.0.7:5070"),
        ("SIPS:desk@example.com", "<sip:100@127.0.0.1>", "SIPS:desk@example.com"),
    ],
)
def test_bare_targets_go_to_the_host_the_caller_dialled(
    target: str, to_uri: str, expected: str
) -> None:
    assert refer_uri(target, to_uri) == expected


@pytest.mark.parametrize("to_uri", ["<tel:+15550100>", "garbage", "<sip:100@>"])
def test_a_bare_target_without_a_usable_dialled_host_is_an_error(to_uri: str) -> None:
    with pytest.raises(ValueError):
        dialled_hostport(to_uri)


def _progress() -> TransferProgress:
    return TransferProgress(call="c1", uri="sip:1001@front")


def test_accepted_refer_then_final_sipfrag_200_is_a_transfer_with_status_200() -> None:
    progress = _progress()
    assert progress.on_status(100, "Accepted", final=False) is None  # pjsua2's synthetic one
    assert progress.on_refer_response(202, "Accepted") is None
    assert progress.on_status(100, "Trying", final=False) is None
    outcome = progress.on_status(200, "OK", final=True)
    assert outcome == p.Transferred(call="c1", target="sip:1001@front", status=200)
    assert progress.on_call_ended() is None, "decided once"


def test_accepted_refer_then_the_callers_bye_is_a_transfer_with_the_refer_status() -> None:
    progress = _progress()
    assert progress.on_refer_response(202, "Accepted") is None
    assert progress.on_status(100, "Accepted", final=False) is None
    assert progress.on_call_ended() == p.Transferred(call="c1", target="sip:1001@front", status=202)


def test_ringing_sipfrag_is_the_status_when_the_caller_leaves_before_the_final_notify() -> None:
    progress = _progress()
    progress.on_refer_response(202, "Accepted")
    progress.on_status(180, "Ringing", final=False)
    outcome = progress.on_call_ended()
    assert outcome is not None and outcome.status == 180


@pytest.mark.parametrize("code", [405, 501, 603, 408])
def test_a_rejected_refer_fails_once_whichever_report_comes_first(code: int) -> None:
    progress = _progress()
    failed = p.TransferFailed(call="c1", target="sip:1001@front", code=code, reason="No")
    assert progress.on_refer_response(code, "No") == failed
    assert progress.on_status(code, "No", final=True) is None
    progress = _progress()
    assert progress.on_status(code, "No", final=True) == failed
    assert progress.on_refer_response(code, "No") is None
    assert progress.on_call_ended() is None


def test_a_busy_target_reported_by_notify_fails_the_transfer() -> None:
    progress = _progress()
    progress.on_refer_response(202, "Accepted")
    outcome = progress.on_status(486, "Busy Here", final=True)
    assert outcome == p.TransferFailed(
        call="c1", target="sip:1001@front", code=486, reason="Busy Here"
    )


def test_a_call_ending_before_the_refer_was_accepted_is_no_transfer() -> None:
    assert _progress().on_call_ended() is None


def test_the_dialled_address_is_the_request_uri_of_the_invite() -> None:
    invite = "INVITE sip:100@203.0.113.5:5060;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n"
    assert request_uri(invite) == "sip:100@203.0.113.5:5060;user=phone"
    assert refer_uri("1001", request_uri(invite)) == "sip:1001@203.0.113.5:5060"
    assert request_uri("SIP/2.0 200 OK\r\n") == ""
    assert request_uri("") == ""
