"""A tiny REGISTER client for the registrar tests (unit and integration), and its own checks.

Builds REGISTER requests and answers digest challenges with either algorithm, so SHA-256 is
tested end to end even though sipp 3.6 and baresip 1.0 only do MD5.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from callcenter.sip.digest import SHA256, compute_response, parse_auth_params
from callcenter.sip.message import Headers, SipRequest, SipResponse


def register(
    *,
    user: str = "agent1",
    uri: str = "sip:127.0.0.1",
    contacts: Iterable[str] = ("<sip:agent1@192.0.2.10:5062>",),
    call_id: str = "reg-1",
    cseq: int = 1,
    branch: str | None = None,
    expires: int | str | None = None,
    via_host: str = "192.0.2.10:5062",
    transport: str = "UDP",
    authorization: str | None = None,
    user_agent: str = "test-phone/1.0",
    to_user: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> SipRequest:
    headers = Headers()
    headers.add(
        "Via",
        f"SIP/2.0/{transport} {via_host};branch={branch or 'z9hG4bK' + secrets.token_hex(6)};rport",
    )
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<sip:{user}@127.0.0.1>;tag=from-{call_id}")
    headers.add("To", f"<sip:{to_user or user}@127.0.0.1>")
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} REGISTER")
    for contact in contacts:
        headers.add("Contact", contact)
    if expires is not None:
        headers.add("Expires", str(expires))
    if authorization is not None:
        headers.add("Authorization", authorization)
    headers.add("User-Agent", user_agent)
    for name, value in extra:
        headers.add(name, value)
    return SipRequest(method="REGISTER", uri=uri, headers=headers)


def challenge_for(response: SipResponse, algorithm: str = SHA256) -> dict[str, str]:
    """The parameters of the response's challenge for ``algorithm``."""
    for value in response.headers.get_all("WWW-Authenticate"):
        params = parse_auth_params(value.partition(" ")[2])
        if params.get("algorithm") == algorithm:
            return params
    raise AssertionError(
        f"no {algorithm} challenge in {response.headers.get_all('WWW-Authenticate')}"
    )


def authorization(
    challenge: dict[str, str],
    *,
    username: str = "agent1",
    password: str = "secret",
    uri: str = "sip:127.0.0.1",
    method: str = "REGISTER",
    nc: int | None = 1,
    cnonce: str = "0a4f113b",
    realm: str | None = None,
) -> str:
    """An ``Authorization`` value answering ``challenge`` (``nc=None``: legacy, no qop)."""
    algorithm = challenge["algorithm"]
    realm = realm if realm is not None else challenge["realm"]
    nc_text = None if nc is None else f"{nc:08x}"
    qop = None if nc is None else "auth"
    response = compute_response(
        algorithm,
        username=username,
        realm=realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge["nonce"],
        qop=qop,
        nc=nc_text,
        cnonce=cnonce if qop else None,
    )
    value = (
        f'Digest username="{username}", realm="{realm}", nonce="{challenge["nonce"]}", '
        f'uri="{uri}", response="{response}", algorithm={algorithm}, '
        f'opaque="{challenge["opaque"]}"'
    )
    if qop:
        value += f', qop=auth, nc={nc_text}, cnonce="{cnonce}"'
    return value
