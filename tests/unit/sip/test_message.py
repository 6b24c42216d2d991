"""The SIP parser against captured messages and deliberately broken ones."""

from __future__ import annotations

import pytest

from callcenter.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
    response_for,
)

# What sipp 3.6.1's built-in uac scenario sends (captured with -trace_msg).
SIPP_INVITE = (
    b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag001\r\n"
    b"To: service <sip:service@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-1234@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# What pjsua2 2.15 answers (captured from a media worker), after a proxy added Via/RR.
PJSUA_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;rport=5060;received=127.0.0.1;"
    b"branch=z9hG4bKccfabc\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.9:5061;received=192.0.2.7;branch=z9hG4bK-1234-1-0\r\n"
    b"Record-Route: <sip:127.0.0.1:5060;lr>\r\n"
    b'Call-ID: 1-1234@127.0.0.1\r\nFrom: "Alice Smith" <sip:+15551234@trunk.example>'
    b";tag=1234SIPpTag001\r\n"
    b"To: <sip:100@127.0.0.1>;tag=1d6d8a4e-0b71-4a0c-9d7c-d2b1a3b53f11\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:127.0.0.1:5070;ob>\r\n"
    b"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, "
    b"MESSAGE, OPTIONS\r\n"
    b"Supported: replaces, 100rel, timer, norefersub\r\n"
    b"Session-Expires: 1800;refresher=uac\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:  0\r\n\r\n"
)


def test_parses_sipp_invite() -> None:
    msg = parse_message(SIPP_INVITE)
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:service@127.0.0.1:5060"
    assert msg.call_id == "1-1234@127.0.0.1"
    assert msg.cseq.number == 1 and msg.cseq.method == "INVITE"
    assert msg.from_tag == "1234SIPpTag001"
    assert msg.to_tag is None
    assert msg.max_forwards == 70
    assert msg.top_via.branch == "z9hG4bK-1234-1-0"
    assert msg.top_via.port == 5061
    assert msg.body.startswith(b"v=0\r\n") and len(msg.body) == 129


def test_parses_pjsua_response_with_two_vias() -> None:
    msg = parse_message(PJSUA_200)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (200, "OK")
    vias = msg.vias
    assert [v.branch for v in vias] == ["z9hG4bKccfabc", "z9hG4bK-1234-1-0"]
    assert vias[0].rport == 5060
    assert vias[1].response_address() == ("192.0.2.7", 5061)
    assert msg.from_.display_name == '"Alice Smith"'
    assert msg.to_tag == "1d6d8a4e-0b71-4a0c-9d7c-d2b1a3b53f11"


def test_compact_forms_folding_and_comma_lists() -> None:
    raw = (
        b"BYE sip:100@127.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::1]:5070"
        b";branch=z9hG4bK2\r\n"
        b"v: SIP/2.0/UDP\r\n h3.example;branch=z9hG4bK3\r\n"
        b"Route: <sip:a.example;lr>,<sip:b.example;lr>\r\n"
        b"i: abc@x\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@y>;tag=2\r\n"
        b"CSeq: 2 BYE\r\nk: timer\r\ns: hi\r\nm: <sip:a@10.0.0.1>\r\nc: text/plain\r\n"
        b"Subject: folded\r\n\tover two lines\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert [v.host for v in msg.vias] == ["10.0.0.1", "[2001:db8::1]", "h3.example"]
    assert msg.vias[1].transport == "TCP" and msg.vias[1].port == 5070
    assert msg.headers.get_all("Route") == ["<sip:a.example;lr>", "<sip:b.example;lr>"]
    assert msg.call_id == "abc@x"
    assert msg.headers.get("supported") == "timer"
    assert msg.headers.get("Contact") == "<sip:a@10.0.0.1>"
    assert msg.headers.get_all("Subject") == ["hi", "folded over two lines"]


def test_serialize_round_trip_recomputes_content_length() -> None:
    msg = parse_message(SIPP_INVITE)
    assert isinstance(msg, SipRequest)
    msg.body = b"v=0\r\n"
    again = parse_message(msg.to_bytes())
    assert isinstance(again, SipRequest)
    assert again.body == b"v=0\r\n"
    assert again.headers.get("Content-Length") == "5"
    assert again.headers.get("Subject") == "Performance Test"


def test_content_length_shorter_than_datagram_cuts_body() -> None:
    raw = SIPP_INVITE.replace(b"Content-Length:   129", b"Content-Length: 5")
    msg = parse_message(raw)
    assert msg.body == b"v=0\r\n"


def test_response_for_copies_dialog_headers_and_adds_tag() -> None:
    request = parse_message(SIPP_INVITE)
    assert isinstance(request, SipRequest)
    response = response_for(request, 404, to_tag="abc", headers=[("Retry-After", "5")])
    parsed = parse_message(response.to_bytes())
    assert isinstance(parsed, SipResponse)
    assert parsed.status == 404 and parsed.reason == "Not Found"
    assert parsed.to_tag == "abc"
    assert parsed.call_id == request.call_id
    assert parsed.headers.get("Retry-After") == "5"
    assert parsed.top_via.branch == "z9hG4bK-1234-1-0"


def _without(header: bytes) -> bytes:
    return b"\r\n".join(
        line for line in SIPP_INVITE.split(b"\r\n") if not line.startswith(header + b":")
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_without(b"Call-ID"), "missing Call-ID header"),
        (_without(b"Via"), "missing Via header"),
        (_without(b"From"), "missing From header"),
        (_without(b"CSeq"), "missing CSeq header"),
        (SIPP_INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), "CSeq: expected"),
        (SIPP_INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "does not match"),
        (SIPP_INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "unsupported SIP version"),
        (SIPP_INVITE.replace(b"INVITE sip:", b"INVITE  sip:", 1), "bad request line"),
        (SIPP_INVITE.replace(b"sip:service@127.0.0.1:5060 ", b"nonsense ", 1), "Request-URI"),
        (SIPP_INVITE.replace(b"Content-Length:   129", b"Content-Length: 500"), "truncated"),
        (SIPP_INVITE.replace(b"Content-Length:   129", b"Content-Length: -1"), "Content-Length"),
        (SIPP_INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 900"), "Max-Forwards"),
        (SIPP_INVITE.replace(b"127.0.0.1:5061;branch", b"127.0.0.1:99999;branch"), "port"),
        (SIPP_INVITE.replace(b"SIP/2.0/UDP", b"SIP/2.0"), "Via: bad protocol"),
        (SIPP_INVITE.replace(b"Subject: ", b"Sub ject: "), "malformed header line"),
        (SIPP_INVITE[:200], "truncated message"),
        (b"\x00\xff\xfe garbage\r\n\r\n", "not UTF-8"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "bad status code"),
        (b"", "empty message"),
    ],
)
def test_broken_messages_raise_a_precise_error(raw: bytes, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse_message(raw)


def test_error_keeps_the_head_so_a_400_can_be_built() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(_without(b"Call-ID"))
    head = info.value.head
    assert head is not None
    response = response_for(head, 400, "Bad Request (missing Call-ID header)")  # type: ignore[arg-type]
    assert b"SIP/2.0 400 Bad Request (missing Call-ID header)\r\n" in response.to_bytes()
    assert b"branch=z9hG4bK-1234-1-0" in response.to_bytes()


def test_oversized_message_is_refused() -> None:
    with pytest.raises(SipParseError, match="too large"):
        parse_message(SIPP_INVITE, max_size=100)


def test_stream_framer_cuts_by_content_length_across_chunks() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + SIPP_INVITE + PJSUA_200
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out.extend(framer.feed(stream[i : i + 7]))
    assert out == [SIPP_INVITE, PJSUA_200]
    assert framer.pings == 1


def test_stream_framer_rejects_unframeable_streams() -> None:
    with pytest.raises(SipParseError, match="missing Content-Length"):
        StreamFramer().feed(_without(b"Content-Length"))
    with pytest.raises(SipParseError, match="too large"):
        StreamFramer(max_size=300).feed(SIPP_INVITE)
    with pytest.raises(SipParseError, match="larger than"):
        StreamFramer(max_size=50).feed(b"INVITE " + b"x" * 100)
