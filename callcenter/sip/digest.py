"""HTTP digest authentication, server side (RFC 7616, with RFC 2617's legacy no-qop form).

Pure: no Twisted, no sockets, time passed in. The registrar asks three questions here: "what
challenges do I send" (:meth:`DigestAuthenticator.challenges`), "what did the client send"
(:func:`parse_authorization`) and "is it right" (:meth:`DigestAuthenticator.verify`).

Nonces are stateless: ``<time>.<salt>.<mac>`` where the MAC is an HMAC-SHA-256 over the time,
the salt and the client's IP with a per-process secret. Nothing is stored per challenge, so a
flood of unauthenticated REGISTERs costs no memory; a nonce from another process (or from
before a restart) simply fails its MAC. Within a valid nonce the highest ``nc`` seen is kept
(bounded LRU) so a captured request cannot be replayed.

The order of checks matters for the brute-force guard: the response is checked *first*, so a
client that knows the password but holds an expired, replayed or foreign nonce gets
``stale=true`` (and retries silently) rather than being counted as a password failure.

Passwords, HA1 values and responses are never logged or put in exception messages.

-*- test-case-name: tests.unit.sip.test_digest -*-
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MD5 = "MD5"
SHA256 = "SHA-256"
_HASHES = {MD5: "md5", SHA256: "sha256"}  # RFC 7616 name → hashlib name
ALGORITHMS = (SHA256, MD5)
"""Supported algorithms, strongest first (the order RFC 7616 3.7 asks challenges in)."""

_MAX_HEADER = 4096
_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


class DigestParseError(ValueError):
    """An ``Authorization`` value we cannot use; the message says why (and holds no secret)."""


class Credentials(Protocol):
    """Where passwords come from (agents' SIP passwords)."""

    def lookup(self, username: str) -> str | None:
        """The password of ``username``, or None when there is no such user."""


@dataclass(frozen=True)
class DigestResponse:
    """The parameters of one ``Authorization: Digest ...`` header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = MD5
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __repr__(self) -> str:  # keep the response out of any log line or traceback
        return (
            f"DigestResponse(username={self.username!r}, realm={self.realm!r}, "
            f"algorithm={self.algorithm!r}, qop={self.qop!r}, nc={self.nc!r})"
        )


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x, y", b=z`` → ``{"a": "x, y", "b": "z"}`` (names lower-cased, quotes removed).

    Raises :class:`DigestParseError` on anything that is not a clean comma list of
    ``token=token`` / ``token="quoted"`` pairs.
    """
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            return params
        start = i
        while i < n and text[i] in _TOKEN:
            i += 1
        name = text[start:i].lower()
        if not name:
            raise DigestParseError(f"unexpected character {text[i]!r} at {i}")
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise DigestParseError(f"parameter {name[:30]!r} has no value")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise DigestParseError(f"unterminated quoted value of {name[:30]!r}")
                ch = text[i]
                if ch == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                    continue
                i += 1
                if ch == '"':
                    break
                chars.append(ch)
            value = "".join(chars)
        else:
            start = i
            while i < n and text[i] in _TOKEN:
                i += 1
            value = text[start:i]
            if not value:
                raise DigestParseError(f"parameter {name[:30]!r} has an empty value")
        if name in params:
            raise DigestParseError(f"parameter {name[:30]!r} given twice")
        params[name] = value
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise DigestParseError(f"expected ',' after {name[:30]!r}")


def parse_authorization(value: str) -> DigestResponse:
    """Parse an ``Authorization`` (or ``Proxy-Authorization``) value of scheme Digest."""
    if len(value) > _MAX_HEADER:
        raise DigestParseError("Authorization header too long")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestParseError(f"unsupported scheme {scheme[:20]!r}")
    params = parse_auth_params(rest)
    missing = [p for p in ("username", "realm", "nonce", "uri", "response") if p not in params]
    if missing:
        raise DigestParseError(f"missing {', '.join(missing)}")
    algorithm = params.get("algorithm", MD5)
    canonical = next((a for a in _HASHES if a.lower() == algorithm.lower()), None)
    if canonical is None:
        raise DigestParseError(f"unsupported algorithm {algorithm[:20]!r}")
    qop = params.get("qop")
    nc = params.get("nc")
    cnonce = params.get("cnonce")
    if qop is not None:
        if qop.lower() != "auth":
            raise DigestParseError(f"unsupported qop {qop[:20]!r}")
        if nc is None or cnonce is None:
            raise DigestParseError("qop=auth without nc or cnonce")
        if len(nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc):
            raise DigestParseError("nc is not 8 hex digits")
        qop = "auth"
    response = params["response"]
    if any(c not in "0123456789abcdefABCDEF" for c in response) or not response:
        raise DigestParseError("response is not hexadecimal")
    return DigestResponse(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=response.lower(),
        algorithm=canonical,
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        opaque=params.get("opaque"),
    )


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def compute_response(
    algorithm: str,
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The ``response`` value a client computes (RFC 7616 3.4.1; RFC 2617 3.2.2.1 w/o qop)."""
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


class Outcome(enum.Enum):
    OK = "ok"
    STALE = "stale"
    """Right password, unusable nonce (expired, replayed, foreign): challenge with stale=true."""
    FAILED = "failed"
    """Unknown user or wrong response: counts against the source."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    username: str
    reason: str
    """For logs: never the password or the response."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass
class _NonceUse:
    nc: int
    request: str  # identity of the request that used ``nc`` (a retransmission reuses it)


class DigestAuthenticator:
    """Issues challenges and verifies answers for one realm. See the module docstring.

    ``clock`` returns seconds (wall or monotonic; only differences matter, within one process).
    ``secret`` defaults to a fresh random one: nonces do not survive a restart, by design.
    """

    def __init__(
        self,
        realm: str,
        clock: Callable[[], float],
        *,
        credentials: Credentials | None = None,
        nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ALGORITHMS,
        secret: bytes | None = None,
        allow_legacy: bool = True,
        max_tracked_nonces: int = 10000,
    ) -> None:
        unknown = [a for a in algorithms if a not in _HASHES]
        if unknown or not algorithms:
            raise ValueError(f"algorithms must be some of {list(_HASHES)}, got {algorithms!r}")
        self.realm = realm
        self.algorithms = algorithms
        self._credentials = credentials
        self._clock = clock
        self._lifetime = nonce_lifetime
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._opaque = hmac.new(self._secret, b"opaque", hashlib.sha256).hexdigest()[:32]
        self._allow_legacy = allow_legacy
        self._uses: OrderedDict[str, _NonceUse] = OrderedDict()
        self._max_tracked = max_tracked_nonces

    # -- challenges ----------------------------------------------------------------------

    def new_nonce(self, source: str) -> str:
        issued = int(self._clock())
        salt = secrets.token_hex(6)
        return f"{issued:x}.{salt}.{self._mac(issued, salt, source)}"

    def challenges(
        self,
        source: str,
        *,
        stale: bool = False,
        algorithms: tuple[str, ...] | None = None,
        nonce: str | None = None,
    ) -> list[str]:
        """``WWW-Authenticate`` values, one per algorithm, in order of preference.

        ``nonce``: challenge again with this one (when it is still valid for ``source``)
        instead of a fresh one. After a wrong answer, that tells a client its credentials,
        not its nonce, were refused: clients such as baresip 1.0 retry at once, in a loop,
        whenever the nonce changes.
        """
        if nonce is None or self._nonce_problem(nonce, source):
            nonce = self.new_nonce(source)
        return [
            f'Digest realm="{_quote(self.realm)}", nonce="{nonce}", opaque="{self._opaque}", '
            f'algorithm={algorithm}, qop="auth"' + (", stale=true" if stale else "")
            for algorithm in (algorithms or self.algorithms)
        ]

    # -- verification --------------------------------------------------------------------

    def verify(
        self, answer: DigestResponse, method: str, source: str, request_id: str = ""
    ) -> Verdict:
        """Check a parsed answer (whose realm the caller has matched to ours).

        ``request_id`` identifies the request (e.g. Call-ID, CSeq, branch): a retransmission
        of an accepted request may reuse its ``nc``, anything else must raise it.
        """
        if self._credentials is None:
            raise TypeError("no credentials given: use verify_with()")
        password = self._credentials.lookup(answer.username)
        return self.verify_with(answer, method, source, password, request_id)

    def verify_with(
        self,
        answer: DigestResponse,
        method: str,
        source: str,
        password: str | None,
        request_id: str = "",
    ) -> Verdict:
        """:meth:`verify` with the password already looked up (None: no such user)."""
        user = answer.username
        if answer.algorithm not in self.algorithms:
            return Verdict(Outcome.FAILED, user, f"algorithm {answer.algorithm} not offered")
        if answer.qop is None and not self._allow_legacy:
            return Verdict(Outcome.FAILED, user, "no qop (legacy digest) not allowed")
        expected = compute_response(
            answer.algorithm,
            username=user,
            realm=self.realm,
            # An unknown user costs the same hashing as a known one (no timing oracle).
            password=password if password is not None else secrets.token_hex(16),
            method=method,
            uri=answer.uri,
            nonce=answer.nonce,
            qop=answer.qop,
            nc=answer.nc,
            cnonce=answer.cnonce,
        )
        matches = hmac.compare_digest(expected.encode(), answer.response.encode())
        if password is None:
            return Verdict(Outcome.FAILED, user, "unknown user")
        if not matches:
            return Verdict(Outcome.FAILED, user, "wrong response")
        if answer.opaque is not None and not hmac.compare_digest(answer.opaque, self._opaque):
            return Verdict(Outcome.STALE, user, "opaque from another process")
        problem = self._nonce_problem(answer.nonce, source)
        if problem:
            return Verdict(Outcome.STALE, user, problem)
        if answer.nc is not None and not self._fresh_nc(answer.nonce, answer.nc, request_id):
            return Verdict(Outcome.STALE, user, "nonce count replayed")
        return Verdict(Outcome.OK, user, "ok")

    def _mac(self, issued: int, salt: str, source: str) -> str:
        message = f"{issued:x}.{salt}.{source}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _nonce_problem(self, nonce: str, source: str) -> str:
        parts = nonce.split(".")
        if len(parts) != 3:
            return "nonce not ours"
        issued_text, salt, mac = parts
        try:
            issued = int(issued_text, 16)
        except ValueError:
            return "nonce not ours"
        if issued_text != f"{issued:x}":
            return "nonce not ours"
        if not hmac.compare_digest(self._mac(issued, salt, source).encode(), mac.encode()):
            return "nonce not ours (other process, restart or other source)"
        age = self._clock() - issued
        if age > self._lifetime or age < -5:
            return "nonce expired"
        return ""

    def _fresh_nc(self, nonce: str, nc_text: str, request_id: str) -> bool:
        nc = int(nc_text, 16)
        use = self._uses.get(nonce)
        if use is not None:
            self._uses.move_to_end(nonce)
            if nc < use.nc or (nc == use.nc and (not request_id or request_id != use.request)):
                return False
            use.nc, use.request = nc, request_id
            return True
        self._uses[nonce] = _NonceUse(nc, request_id)
        while len(self._uses) > self._max_tracked:
            self._uses.popitem(last=False)
        return True


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
