"""Header value helpers: Via, name-addr, URIs, CSeq."""

from __future__ import annotations

import pytest

from callcenter.sip.fields import (
    SipParseError,
    display_name_text,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
)


def test_via_round_trip_and_response_address() -> None:
    via = parse_via("SIP/2.0/udp 10.0.0.1:5062;branch=z9hG4bK77;rport")
    assert via.transport == "UDP" and via.wants_rport and via.rport is None
    assert via.response_address() == ("10.0.0.1", 5062)
    via.params["received"] = "203.0.113.9"
    via.params["rport"] = "40000"
    assert str(via) == "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK77;rport=40000;received=203.0.113.9"
    assert parse_via(str(via)).response_address() == ("203.0.113.9", 40000)
    assert parse_via("SIP/2.0/TLS example.com;branch=z9hG4bK1").response_address() == (
        "example.com",
        5061,
    )


def test_name_addr_forms() -> None:
    quoted = parse_name_addr('"Smith, John \\"JS\\"" <sip:+1555@x.example;user=phone>;tag=9')
    assert quoted.tag == "9" and quoted.uri == "sip:+1555@x.example;user=phone"
    assert display_name_text(quoted.display_name) == 'Smith, John "JS"'
    bare = parse_name_addr("sip:bob@example.com;tag=abc")
    assert bare.uri == "sip:bob@example.com" and bare.tag == "abc"
    with pytest.raises(SipParseError, match="missing '>'"):
        parse_name_addr("<sip:bob@example.com")


def test_uri_user_part() -> None:
    assert parse_uri("sip:+15551234:secret@trunk.example:5080;transport=tcp").user == "+15551234"
    assert parse_uri("tel:+15551234;phone-context=x").user == "+15551234"
    assert parse_uri("sip:127.0.0.1:5070").user == ""
    with pytest.raises(SipParseError, match="scheme"):
        parse_uri("http://example.com")
    with pytest.raises(SipParseError, match="bad host"):
        parse_uri("sip:bob@exa mple.com")


def test_cseq() -> None:
    assert str(parse_cseq("  101   INVITE ")) == "101 INVITE"
    with pytest.raises(SipParseError, match="too large"):
        parse_cseq("4294967296 INVITE")
