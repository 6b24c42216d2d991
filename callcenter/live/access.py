"""Who may watch the wallboard: a supervisor (or admin) token, by header or by cookie.

A browser's ``EventSource`` cannot send an ``Authorization`` header, and a token in the URL
ends up in histories and logs. So the page trades its token once for a cookie:
``POST /api/wallboard/session`` with ``Authorization: Bearer <token>`` answers with
``Set-Cookie: cc_wallboard=…; HttpOnly; SameSite=Strict; Path=/api/wallboard``, and the
browser sends it with the event stream. The page gets the token from its URL *fragment*
(``/wallboard#token=…``, which browsers never send to a server) or from a form, keeps it in
the tab's ``sessionStorage`` and removes it from the address bar.

The cookie is stateless, so it outlives a restart of the service (the page reconnects by
itself): ``<fingerprint>.<expires>.<mac>``, where the fingerprint names the token (a hash
prefix, not the token) and the MAC is an HMAC-SHA256 keyed by the token itself. Only someone
holding the token can make one; revoking the token in ``http.tokens`` revokes its cookies,
and a token lowered below supervisor gets ``403`` with its old cookie too.

-*- test-case-name: tests.integration.live.test_wallboard_http -*-
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from twisted.web.server import Request

from callcenter.web.auth import Principal, TokenAuth, parse_role, rank
from callcenter.web.errors import ForbiddenError, UnauthorizedError

COOKIE = "cc_wallboard"
COOKIE_PATH = "/api/wallboard"
LIFETIME_SECONDS = 12 * 3600
ROLE = "supervisor"


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"wallboard-token:" + token.encode()).hexdigest()[:16]


def _mac(token: str, fingerprint: str, expires: int) -> str:
    message = f"wallboard|{fingerprint}|{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


class WallboardAccess:
    def __init__(
        self,
        tokens: Mapping[str, str],
        clock: Callable[[], float],
        lifetime: int = LIFETIME_SECONDS,
    ) -> None:
        self._auth = TokenAuth(dict(tokens))
        self._by_fingerprint = {
            _fingerprint(token): (token, parse_role(role)) for token, role in tokens.items()
        }
        self._clock = clock
        self._lifetime = lifetime

    @property
    def auth(self) -> TokenAuth:
        return self._auth

    def issue(self, authorization: str | None) -> tuple[str, int]:
        """A cookie value for a supervisor's bearer token, and when it expires (401/403)."""
        header = authorization
        self._auth.require(header, ROLE)
        assert header is not None  # require() refused a missing header
        token = header[len("Bearer ") :].strip()
        fingerprint = _fingerprint(token)
        expires = int(self._clock()) + self._lifetime
        return f"{fingerprint}.{expires}.{_mac(token, fingerprint, expires)}", expires

    def principal(self, request: Request) -> Principal:
        """Who this request speaks for, by bearer header or cookie; 401 nobody, 403 too low."""
        header = request.getHeader(b"authorization")
        if header:
            principal = self._auth.principal_of(header.decode("latin-1"))
        else:
            principal = self._cookie_principal(request.getCookie(COOKIE.encode()))
        if rank(principal.role) < rank(ROLE):
            raise ForbiddenError(f"the wallboard needs the {ROLE} role; this has {principal.role}")
        return principal

    def _cookie_principal(self, raw: bytes | None) -> Principal:
        if not raw:
            raise UnauthorizedError(
                "no credentials: send Authorization: Bearer <token>, or get a cookie from"
                " POST /api/wallboard/session"
            )
        fingerprint, _, rest = raw.decode("latin-1").partition(".")
        expires_text, _, mac = rest.partition(".")
        found = self._by_fingerprint.get(fingerprint)
        if found is None or not expires_text.isdigit():
            raise UnauthorizedError("wallboard session unknown or revoked; sign in again")
        token, principal = found
        if not hmac.compare_digest(mac, _mac(token, fingerprint, int(expires_text))):
            raise UnauthorizedError("wallboard session unknown or revoked; sign in again")
        if int(expires_text) < self._clock():
            raise UnauthorizedError("wallboard session expired; sign in again")
        return principal

    def cookie_header(self, value: str, expires: int) -> bytes:
        max_age = max(0, expires - int(self._clock()))
        return (
            f"{COOKIE}={value}; Max-Age={max_age}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"
        ).encode()
