"""Digest authentication of an INVITE to the service itself (feature codes, monitor codes).

Phones answer a ``407 Proxy Authentication Required`` with the same SIP username and password
they REGISTER with. Wrong passwords count against the source in the registrar's
:class:`FailureGuard` when it is shared, so guessing by INVITE is blocked like guessing by
REGISTER.

One ``Proxy-Authenticate`` header is sent (the admission's ``Reject`` carries one value per
header name), with MD5 by default: every SIP phone and sipp answer MD5, while some phones fail
on a SHA-256 challenge.

-*- test-case-name: tests.unit.agents.test_feature_codes -*-
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from callcenter.sip.admission import InboundCall, Reject
from callcenter.sip.digest import (
    MD5,
    DigestAuthenticator,
    DigestParseError,
    DigestResponse,
    Outcome,
    parse_auth_params,
    parse_authorization,
)
from callcenter.sip.fields import SipParseError, parse_uri
from callcenter.sip.registrar import FailureGuard

log = logging.getLogger(__name__)


class InviteAuthenticator:
    """``authenticate(call)``: the authenticated SIP username, or the ``Reject`` to answer
    (``407`` challenge, ``400`` malformed credentials, ``403`` source blocked)."""

    def __init__(
        self,
        realm: str,
        passwords: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
        *,
        guard: FailureGuard | None = None,
        algorithm: str = MD5,
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
    ) -> None:
        self._realm = realm
        self._passwords = passwords
        self._clock = clock
        self._algorithm = algorithm
        self._digest = DigestAuthenticator(
            realm, clock, nonce_lifetime=nonce_lifetime, algorithms=(algorithm,), secret=secret
        )
        self._guard = guard if guard is not None else FailureGuard(5, 60.0, 300.0)

    def authenticate(self, call: InboundCall) -> str | Reject:
        source = call.source[0]
        now = self._clock()
        if self._guard.blocked_for(source, now):
            return Reject(403, "Forbidden (too many failed authentications)")
        answer = self._credentials(call)
        if isinstance(answer, str):
            return Reject(400, f"Bad Request (Proxy-Authorization: {answer})")
        if answer is None:
            return self._challenge(source)
        password = self._passwords(answer.username)
        request_id = f"{call.call_id}|{call.cseq}"
        verdict = self._digest.verify_with(answer, "INVITE", source, password, request_id)
        if verdict.outcome is Outcome.FAILED:
            log.info(
                "INVITE to %s from %s: authentication failed for %r (%s)",
                call.did,
                source,
                verdict.username,
                verdict.reason,
            )
            self._guard.failed(source, now)
            return self._challenge(source, nonce=answer.nonce)
        if verdict.outcome is Outcome.STALE:
            return self._challenge(source, stale=True)
        if call.request_uri and not _same_uri(answer.uri, call.request_uri):
            return Reject(400, "Bad Request (digest uri is not the Request-URI)")
        return answer.username

    def _credentials(self, call: InboundCall) -> DigestResponse | str | None:
        """Our realm's digest answer; a string says why it is unusable; None: none sent."""
        problem: str | None = None
        for value in call.authorization:
            try:
                answer = parse_authorization(value)
            except DigestParseError as exc:
                if _realm_of(value) in (None, self._realm):
                    problem = str(exc)
                continue
            if answer.realm == self._realm:
                return answer
        return problem

    def _challenge(self, source: str, stale: bool = False, nonce: str | None = None) -> Reject:
        [value] = self._digest.challenges(
            source, stale=stale, algorithms=(self._algorithm,), nonce=nonce
        )
        return Reject(407, "Proxy Authentication Required", {"Proxy-Authenticate": value})


def _realm_of(value: str) -> str | None:
    try:
        return parse_auth_params(value.strip().partition(" ")[2]).get("realm")
    except DigestParseError:
        return None


def _same_uri(digest_uri: str, request_uri: str) -> bool:
    """Digest ``uri`` against the Request-URI: the same (host case aside), or the Request-URI
    without its user part, which is what sipp puts there (``sip:host:port``).

    The loose second form is safe: the response hashes the ``uri`` it names, and each nonce
    count is accepted once, so a captured answer cannot be replayed for another code.
    """
    try:
        answer, request = parse_uri(digest_uri), parse_uri(request_uri)
    except SipParseError:
        return digest_uri == request_uri
    for uri in (answer, request):
        uri.host = uri.host.lower()
    if str(answer) == str(request):
        return True
    request.user = ""
    return str(answer) == str(request)
