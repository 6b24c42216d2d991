"""The REGISTER client used by the registrar tests builds what phones send."""

from __future__ import annotations

from tests.support.sip_register import authorization, register


def test_register_request_is_well_formed() -> None:
    request = register(expires=60, authorization='Digest username="a"')
    assert request.cseq.method == "REGISTER"
    assert request.headers.get("Expires") == "60"
    assert request.to.uri == "sip:agent1@127.0.0.1"


def test_authorization_answers_the_rfc7616_example() -> None:
    challenge = {
        "realm": "http-auth@example.org",
        "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
        "algorithm": "MD5",
    }
    value = authorization(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        uri="/dir/index.html",
        method="GET",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert 'response="8ca523f5e9506fed4657c9700eebdbec"' in value
