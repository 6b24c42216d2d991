"""Digest authentication: RFC vectors, nonces (expiry, forgery, replay), broken headers."""

from __future__ import annotations

import contextlib

import pytest

from callcenter.sip.digest import (
    MD5,
    SHA256,
    DigestAuthenticator,
    DigestParseError,
    DigestResponse,
    Outcome,
    compute_response,
    parse_auth_params,
    parse_authorization,
)

RFC7616 = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "method": "GET",
    "uri": "/dir/index.html",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "qop": "auth",
    "nc": "00000001",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


def test_rfc7616_md5_vector() -> None:
    assert compute_response(MD5, **RFC7616) == "8ca523f5e9506fed4657c9700eebdbec"


def test_rfc7616_sha256_vector() -> None:
    assert (
        compute_response(SHA256, **RFC7616)
        == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_rfc2617_vector() -> None:
    assert (
        compute_response(
            MD5,
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_parse_rfc7616_example_header() -> None:
    header = (
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        "algorithm=SHA-256, "
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
        'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    answer = parse_authorization(header)
    assert answer.username == "Mufasa"
    assert answer.algorithm == SHA256
    assert answer.qop == "auth" and answer.nc == "00000001"
    assert answer.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert "753927" not in repr(answer)  # the response stays out of logs


def test_parse_quoted_escapes_and_case() -> None:
    params = parse_auth_params(r'Username="a\"b", REALM = "x, y" ,nc=1')
    assert params == {"username": 'a"b', "realm": "x, y", "nc": "1"}
    answer = parse_authorization(
        'digest username="u", realm="r", nonce="n", uri="sip:x", response="AB", algorithm=md5'
    )
    assert answer.algorithm == MD5 and answer.qop is None and answer.response == "ab"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic dXNlcjpwYXNz", "unsupported scheme"),
        ('Digest username="u", realm="r"', "missing nonce, uri, response"),
        ('Digest username="u, realm=r', "unterminated"),
        ("Digest username", "no value"),
        ("Digest username=", "empty value"),
        ('Digest username="a" realm="b"', "expected ','"),
        ('Digest username="a", username="b"', "given twice"),
        ("Digest =x", "unexpected character"),
        (
            'Digest username="u", realm="r", nonce="n", uri="u", response="ab", algorithm=SHA-1',
            "unsupported algorithm",
        ),
        (
            'Digest username="u", realm="r", nonce="n", uri="u", response="ab", qop=auth-int, '
            'nc=00000001, cnonce="c"',
            "unsupported qop",
        ),
        ('Digest username="u", realm="r", nonce="n", uri="u", response="ab", qop=auth', "nc"),
        (
            'Digest username="u", realm="r", nonce="n", uri="u", response="ab", qop=auth, '
            'nc=1, cnonce="c"',
            "8 hex digits",
        ),
        ('Digest username="u", realm="r", nonce="n", uri="u", response="zz"', "hexadecimal"),
        ("Digest " + "a=b, " * 2000, "too long"),
        ("", "unsupported scheme"),
    ],
)
def test_malformed_headers_raise_a_clear_error(header: str, message: str) -> None:
    with pytest.raises(DigestParseError, match=message):
        parse_authorization(header)


@pytest.mark.parametrize(
    "junk", ["\x00\xff", 'Digest "', "Digest ,,,,", 'Digest a="\\', "Digest a=b,"]
)
def test_junk_never_crashes(junk: str) -> None:
    with contextlib.suppress(DigestParseError):
        parse_authorization(junk)


class Passwords:
    def __init__(self, **passwords: str) -> None:
        self.passwords = passwords

    def lookup(self, username: str) -> str | None:
        return self.passwords.get(username)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _answer(
    challenge: str,
    *,
    password: str = "secret",
    username: str = "agent1",
    method: str = "REGISTER",
    uri: str = "sip:127.0.0.1",
    nc: str | None = "00000001",
    cnonce: str = "c0ffee",
    realm: str | None = None,
) -> DigestResponse:
    params = parse_auth_params(challenge.partition(" ")[2])
    algorithm = params["algorithm"]
    realm = realm or params["realm"]
    qop = "auth" if nc is not None else None
    response = compute_response(
        algorithm,
        username=username,
        realm=realm,
        password=password,
        method=method,
        uri=uri,
        nonce=params["nonce"],
        qop=qop,
        nc=nc,
        cnonce=cnonce if qop else None,
    )
    return DigestResponse(
        username=username,
        realm=realm,
        nonce=params["nonce"],
        uri=uri,
        response=response,
        algorithm=algorithm,
        qop=qop,
        nc=nc,
        cnonce=cnonce if qop else None,
        opaque=params["opaque"],
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> DigestAuthenticator:
    return DigestAuthenticator(
        "callcenter", clock, credentials=Passwords(agent1="secret"), nonce_lifetime=60
    )


def test_challenges_offer_sha256_then_md5(auth: DigestAuthenticator) -> None:
    first, second = auth.challenges("127.0.0.1")
    assert first.startswith('Digest realm="callcenter", nonce="')
    assert "algorithm=SHA-256" in first and "algorithm=MD5" in second
    assert 'qop="auth"' in first and "opaque=" in first and "stale" not in first
    assert "stale=true" in auth.challenges("127.0.0.1", stale=True)[0]
    assert auth.challenges("127.0.0.1", algorithms=(MD5,))[0].count("algorithm=MD5") == 1


@pytest.mark.parametrize("index", [0, 1])
def test_right_password_both_algorithms(auth: DigestAuthenticator, index: int) -> None:
    challenge = auth.challenges("127.0.0.1")[index]
    verdict = auth.verify(_answer(challenge), "REGISTER", "127.0.0.1")
    assert verdict.ok and verdict.username == "agent1"


def test_legacy_answer_without_qop(auth: DigestAuthenticator, clock: Clock) -> None:
    challenge = auth.challenges("127.0.0.1")[1]
    answer = _answer(challenge, nc=None)
    assert auth.verify(answer, "REGISTER", "127.0.0.1").ok
    strict = DigestAuthenticator(
        "callcenter",
        clock,
        credentials=Passwords(agent1="secret"),
        allow_legacy=False,
    )
    assert strict.verify(answer, "REGISTER", "127.0.0.1").outcome is Outcome.FAILED


def test_wrong_password_unknown_user_and_wrong_realm_fail(auth: DigestAuthenticator) -> None:
    challenge = auth.challenges("127.0.0.1")[0]
    wrong = auth.verify(_answer(challenge, password="guess"), "REGISTER", "127.0.0.1")
    assert wrong.outcome is Outcome.FAILED and wrong.reason == "wrong response"
    assert "guess" not in repr(wrong)
    unknown = auth.verify(_answer(challenge, username="nobody"), "REGISTER", "127.0.0.1")
    assert unknown.outcome is Outcome.FAILED and unknown.reason == "unknown user"
    # Hashed with another realm: the response cannot match ours.
    realm = auth.verify(_answer(challenge, realm="other"), "REGISTER", "127.0.0.1")
    assert realm.outcome is Outcome.FAILED


def test_wrong_method_or_uri_fails(auth: DigestAuthenticator) -> None:
    challenge = auth.challenges("127.0.0.1")[0]
    answer = _answer(challenge, method="INVITE")
    assert auth.verify(answer, "REGISTER", "127.0.0.1").outcome is Outcome.FAILED


def test_expired_nonce_with_right_password_is_stale(
    auth: DigestAuthenticator, clock: Clock
) -> None:
    challenge = auth.challenges("127.0.0.1")[0]
    clock.now += 61
    stale = auth.verify(_answer(challenge), "REGISTER", "127.0.0.1")
    assert stale.outcome is Outcome.STALE and stale.reason == "nonce expired"
    # ...but a wrong password with an expired nonce is a failure, not a free retry.
    wrong = auth.verify(_answer(challenge, password="x", cnonce="d"), "REGISTER", "127.0.0.1")
    assert wrong.outcome is Outcome.FAILED


def test_nonce_from_another_source_or_process_is_stale(
    auth: DigestAuthenticator, clock: Clock
) -> None:
    challenge = auth.challenges("127.0.0.1")[0]
    assert auth.verify(_answer(challenge), "REGISTER", "127.0.0.9").outcome is Outcome.STALE
    other = DigestAuthenticator("callcenter", clock, credentials=Passwords(agent1="secret"))
    verdict = other.verify(_answer(challenge), "REGISTER", "127.0.0.1")
    assert verdict.outcome is Outcome.STALE


def test_forged_nonce_is_stale_not_ok(auth: DigestAuthenticator) -> None:
    challenge = auth.challenges("127.0.0.1")[0].replace('nonce="', 'nonce="0')
    answer = _answer(challenge)
    answer = DigestResponse(**{**answer.__dict__, "opaque": None})
    assert auth.verify(answer, "REGISTER", "127.0.0.1").outcome is Outcome.STALE
    for nonce in ("abc", "zz.y.x", "1.2"):
        forged = _answer(challenge.replace(answer.nonce, nonce))
        forged = DigestResponse(**{**forged.__dict__, "opaque": None})
        assert auth.verify(forged, "REGISTER", "127.0.0.1").outcome is Outcome.STALE


def test_nonce_count_replay_is_refused_but_retransmission_allowed(
    auth: DigestAuthenticator,
) -> None:
    challenge = auth.challenges("127.0.0.1")[0]
    first = _answer(challenge, nc="00000001")
    assert auth.verify(first, "REGISTER", "127.0.0.1", request_id="cid|1|b1").ok
    # The same request again (UDP retransmission): same nc allowed.
    assert auth.verify(first, "REGISTER", "127.0.0.1", request_id="cid|1|b1").ok
    # Replayed as another request: refused.
    replay = auth.verify(first, "REGISTER", "127.0.0.1", request_id="cid|2|b2")
    assert replay.outcome is Outcome.STALE and "replayed" in replay.reason
    assert auth.verify(_answer(challenge, nc="00000002"), "REGISTER", "127.0.0.1", "x").ok
    lower = auth.verify(_answer(challenge, nc="00000001", cnonce="z"), "REGISTER", "127.0.0.1")
    assert lower.outcome is Outcome.STALE


def test_algorithm_not_offered_fails(clock: Clock) -> None:
    md5_only = DigestAuthenticator(
        "callcenter", clock, credentials=Passwords(agent1="secret"), algorithms=(MD5,)
    )
    sha = DigestAuthenticator("callcenter", clock, secret=b"k", algorithms=(SHA256,))
    challenge = sha.challenges("127.0.0.1")[0]
    verdict = md5_only.verify(_answer(challenge), "REGISTER", "127.0.0.1")
    assert verdict.outcome is Outcome.FAILED and "not offered" in verdict.reason


def test_bad_configuration_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        DigestAuthenticator("r", clock, algorithms=("SHA-1",))
    with pytest.raises(TypeError, match="verify_with"):
        DigestAuthenticator("r", clock).verify(
            parse_authorization('Digest username="u", realm="r", nonce="n", uri="u", response="a"'),
            "REGISTER",
            "127.0.0.1",
        )
