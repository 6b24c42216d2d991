"""The registrar of the SIP front: agents' softphones REGISTER here (RFC 3261 10.3).

Plugged into the front with ``front.add_method_service("REGISTER", registrar)``. For each
REGISTER it: refuses a source that failed authentication too often (:class:`FailureGuard`),
asks for digest credentials (:mod:`callcenter.sip.digest`; ``401`` with one challenge per
algorithm), checks that the authenticated user is the To user (the AOR is the agent's SIP
username; else ``403``), works out each contact's expiry within bounds (``423`` below the
minimum), and applies the change to the AOR's bindings atomically in the
:class:`~callcenter.store.registrations.BindingStore`: add/refresh, remove (``expires=0``),
remove all (``Contact: *``), with RFC 3261's Call-ID/CSeq ordering (``500`` for an older
CSeq of the same Call-ID). The ``200 OK`` lists every current binding with its remaining time.

Each binding keeps the flow the REGISTER came on (``received``/``rport``, transport): a call
to the agent goes there (:func:`binding_flow`), which is what reaches a phone behind NAT.

The front has no transaction layer for the requests it hands to services, so the registrar
answers UDP retransmissions itself: the same transaction gets the same response, rather than
a ``500`` for a "repeated" CSeq or a second count against the password guard.

After each successful REGISTER or un-REGISTER the optional ``on_bindings(aor, until)`` hook
hears the AOR's latest binding expiry (None: no binding left), so routing stops offering calls
to an agent whose phone went away; it is awaited before the ``200 OK`` (so "registered" is true
by the time the phone knows it is), and its failure is logged without failing the REGISTER.

Blocked sources get ``403 Forbidden`` (not silence): a person who mistyped a password sees why
their phone cannot register; the front's per-source request limit bounds what a flood costs.
Passwords and digest responses are never logged.

-*- test-case-name: tests.unit.sip.test_registrar -*-
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from callcenter.aio import as_deferred
from callcenter.sip.digest import (
    ALGORITHMS,
    MD5,
    DigestAuthenticator,
    DigestParseError,
    DigestResponse,
    Outcome,
    Verdict,
    parse_auth_params,
    parse_authorization,
)
from callcenter.sip.fields import SipParseError, parse_name_addr, parse_uri, split_header_list
from callcenter.sip.message import SipRequest, SipResponse, response_for
from callcenter.sip.transport import Flow
from callcenter.store.link import RedisUnavailableError
from callcenter.store.registrations import Binding, BindingStore, StoreConflictError

log = logging.getLogger(__name__)

__all__ = [
    "BindingsHook",
    "FailureGuard",
    "LookupBy",
    "PasswordLookup",
    "Registrar",
    "RegistrarSettings",
    "RegistrarStats",
    "binding_flow",
]


@dataclass(frozen=True)
class RegistrarSettings:
    """The registrar's knobs; loaded once by the app and passed in."""

    realm: str = "callcenter"
    """Digest realm shown to phones (part of what they hash; changing it is harmless)."""
    min_expires: int = 60
    """Shorter non-zero registrations get ``423 Interval Too Brief`` with ``Min-Expires``."""
    max_expires: int = 3600
    """Longer ones are granted this much (the 200 OK says so)."""
    default_expires: int = 3600
    """When neither the contact nor the request says (or says something unreadable)."""
    max_contacts: int = 10
    """Bindings per AOR; beyond, the ones expiring soonest are dropped (stale phone restarts)."""
    nonce_lifetime: float = 300.0
    """Seconds a nonce is good for; after that the phone gets ``stale=true`` and re-hashes."""
    algorithms: tuple[str, ...] = ALGORITHMS
    """Challenges offered, in order (RFC 7616: strongest first)."""
    md5_only_user_agents: tuple[str, ...] = ("baresip v0.", "baresip v1.", "sipp")
    """User-Agent prefixes (case-insensitive) of phones that fail on seeing any SHA-256
    challenge: they are offered MD5 alone. baresip 1.0 with libre 1.1 (Debian 12) is one: it
    aborts with ENOSYS instead of skipping the challenge it does not know. sipp 3.6 answers
    only the first challenge and only with MD5 (scenarios here send ``User-Agent: sipp``)."""
    allow_legacy_digest: bool = True
    """Accept RFC 2069-style answers without ``qop`` (old phones); no ``nc`` replay check."""
    max_failures: int = 5
    """Failed authentications (wrong password, unknown user) from one IP within
    ``failure_window`` seconds that get the IP blocked for ``block_seconds``."""
    failure_window: float = 60.0
    block_seconds: float = 300.0
    tracked_sources: int = 10000
    """IPs the failure guard remembers (least recently seen forgotten first)."""
    transaction_seconds: float = 32.0
    """How long a response is kept to answer retransmissions (RFC 3261 Timer J, 64*T1)."""


class PasswordLookup(Protocol):
    """Agents' SIP passwords: :class:`callcenter.sip.digest.Credentials`, or an async one."""

    def lookup(self, username: str) -> str | Awaitable[str | None] | None: ...


@dataclass(frozen=True)
class LookupBy:
    """A function (e.g. ``roster.password``) as a :class:`PasswordLookup`."""

    function: Callable[[str], str | Awaitable[str | None] | None]

    def lookup(self, username: str) -> str | Awaitable[str | None] | None:
        return self.function(username)


BindingsHook = Callable[[str, float | None], Awaitable[None] | None]
"""``on_bindings(aor, latest_expiry)``: an AOR's bindings changed; None when none is left."""


def binding_flow(binding: Binding) -> Flow:
    """Where to send a request for this binding: the flow its REGISTER came on."""
    return Flow(binding.transport, binding.source)


class FailureGuard:
    """Counts failed authentications per source IP and blocks a source that fails too often.

    Pure (time passed in) and bounded in memory like the front's rate limiter.
    """

    def __init__(
        self, max_failures: int, window: float, block_seconds: float, max_sources: int = 10000
    ) -> None:
        self._max = max(1, max_failures)
        self._window = window
        self._block = block_seconds
        self._max_sources = max_sources
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: OrderedDict[str, float] = OrderedDict()

    def blocked_for(self, source: str, now: float) -> float:
        """Seconds ``source`` stays blocked (0 when it is not)."""
        until = self._blocked.get(source)
        if until is None:
            return 0.0
        if until <= now:
            del self._blocked[source]
            return 0.0
        return until - now

    def failed(self, source: str, now: float) -> bool:
        """Count one failure; True when it gets ``source`` blocked."""
        times = self._failures.get(source)
        if times is None:
            times = self._failures[source] = deque(maxlen=self._max)
            _bound(self._failures, self._max_sources)
        else:
            self._failures.move_to_end(source)
        times.append(now)
        if len(times) >= self._max and now - times[0] <= self._window:
            times.clear()
            self._blocked[source] = now + self._block
            self._blocked.move_to_end(source)
            _bound(self._blocked, self._max_sources)
            return True
        return False

    @property
    def blocked_sources(self) -> int:
        return len(self._blocked)


def _bound(mapping: OrderedDict[Any, Any], size: int) -> None:
    while len(mapping) > size:
        mapping.popitem(last=False)


class _OutOfOrderError(Exception):
    """Same Call-ID, CSeq not above the binding's (RFC 3261 10.3 step 7)."""


@dataclass(frozen=True)
class _Contact:
    uri: str
    expires: int
    q: str | None


@dataclass
class _Reply:
    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RegistrarStats:
    registered: int = 0
    unregistered: int = 0
    challenged: int = 0
    auth_failures: int = 0
    stale: int = 0
    blocked: int = 0
    """Requests refused because their source is blocked."""
    retransmissions: int = 0
    errors: int = 0


class Registrar:
    """A :data:`~callcenter.sip.proxy.MethodService` for REGISTER. See the module docstring.

    ``clock`` gives wall-clock seconds (bindings' expiry is shared through Redis); ``run``
    turns the handling coroutine into the Deferred the front expects (the asyncio bridge by
    default; the controller runs Twisted on the asyncio loop).
    """

    def __init__(
        self,
        settings: RegistrarSettings,
        credentials: PasswordLookup,
        store: BindingStore,
        clock: Callable[[], float] = time.time,
        *,
        secret: bytes | None = None,
        run: Callable[[Coroutine[Any, Any, SipResponse]], Deferred[SipResponse]] = as_deferred,
        on_bindings: BindingsHook | None = None,
    ) -> None:
        if not 0 < settings.min_expires <= settings.max_expires:
            raise ValueError("need 0 < min_expires <= max_expires")
        self.settings = settings
        self.store = store
        self._credentials = credentials
        self._clock = clock
        self._run = run
        self.on_bindings = on_bindings
        self._digest = DigestAuthenticator(
            settings.realm,
            clock,
            nonce_lifetime=settings.nonce_lifetime,
            algorithms=settings.algorithms,
            secret=secret,
            allow_legacy=settings.allow_legacy_digest,
        )
        self.guard = FailureGuard(
            settings.max_failures,
            settings.failure_window,
            settings.block_seconds,
            settings.tracked_sources,
        )
        self._transactions: OrderedDict[
            tuple[str, ...], tuple[float, asyncio.Future[SipResponse]]
        ] = OrderedDict()
        self.stats = RegistrarStats()

    # -- public ----------------------------------------------------------------------------

    def __call__(self, request: SipRequest, flow: Flow) -> Deferred[SipResponse]:
        return self._run(self.handle(request, flow))

    async def handle(self, request: SipRequest, flow: Flow) -> SipResponse:
        """Answer one REGISTER (the front has stamped ``received``/``rport`` on its Via)."""
        now = self._clock()
        self._forget_transactions(now)
        key = _transaction_key(request, flow)
        known = self._transactions.get(key)
        if known is not None:
            self.stats.retransmissions += 1
            return await asyncio.shield(known[1])
        task = asyncio.ensure_future(self._answer(request, flow, now))
        self._transactions[key] = (now, task)
        _bound(self._transactions, 4 * self.settings.tracked_sources)
        return await asyncio.shield(task)

    async def bindings(self, aor: str) -> list[Binding]:
        """The agent's live contacts (empty: not registered, not to be offered calls)."""
        return await self.store.current(aor, self._clock())

    # -- one request ---------------------------------------------------------------------

    async def _answer(self, request: SipRequest, flow: Flow, now: float) -> SipResponse:
        to_tag = _tag(request)
        try:
            reply = await self._decide(request, flow, now)
        except Exception:
            self.stats.errors += 1
            log.exception("REGISTER from %s failed", flow)
            reply = _Reply(500, None, [("Retry-After", "5")])
        return response_for(request, reply.status, reply.reason, reply.headers, to_tag=to_tag)

    async def _decide(self, request: SipRequest, flow: Flow, now: float) -> _Reply:
        source = flow.address[0]
        settings = self.settings
        blocked = self.guard.blocked_for(source, now)
        if blocked:
            self.stats.blocked += 1
            log.debug("REGISTER from blocked source %s refused", source)
            return _Reply(403, "Forbidden (too many failed authentications)")
        required = request.headers.get("Require")
        if required:
            return _Reply(420, "Bad Extension", [("Unsupported", required)])
        try:
            aor_uri = parse_uri(request.to.uri)
        except SipParseError as exc:
            return _Reply(400, f"Bad Request ({exc.reason})")
        aor = aor_uri.user
        if aor_uri.scheme not in ("sip", "sips") or not aor:
            return _Reply(404, "Not Found (To must be sip:<agent username>@...)")

        answer = self._authorization(request)
        if isinstance(answer, str):
            return _Reply(400, f"Bad Request (Authorization: {answer})")
        if answer is None:
            self.stats.challenged += 1
            return self._challenge(request, source)
        verdict = await self._verify(answer, request, source)
        if verdict.outcome is Outcome.FAILED:
            self.stats.auth_failures += 1
            log.info(
                "REGISTER from %s: authentication failed for %r (%s)",
                flow,
                verdict.username,
                verdict.reason,
            )
            if self.guard.failed(source, now):
                log.warning(
                    "blocking %s for %.0f s after %d failed authentications in %.0f s",
                    source,
                    settings.block_seconds,
                    settings.max_failures,
                    settings.failure_window,
                )
            return self._challenge(request, source, nonce=answer.nonce)
        if verdict.outcome is Outcome.STALE:
            self.stats.stale += 1
            log.debug("REGISTER from %s: %s; stale challenge", flow, verdict.reason)
            return self._challenge(request, source, stale=True)
        if verdict.username != aor:
            log.info("REGISTER from %s: %r may not register %r", flow, verdict.username, aor)
            return _Reply(403, "Forbidden (authenticated user is not the To user)")
        if not _same_uri(answer.uri, request.uri):
            return _Reply(400, "Bad Request (digest uri is not the Request-URI)")
        return await self._register(request, flow, aor, now)

    def _authorization(self, request: SipRequest) -> DigestResponse | str | None:
        """Our realm's ``Authorization``; a string says why it is unusable; None: none sent."""
        problem: str | None = None
        for value in request.headers.get_all("Authorization"):
            try:
                answer = parse_authorization(value)
            except DigestParseError as exc:
                if _realm_of(value) in (None, self.settings.realm):
                    problem = str(exc)
                continue
            if answer.realm == self.settings.realm:
                return answer
        return problem

    async def _verify(self, answer: DigestResponse, request: SipRequest, source: str) -> Verdict:
        found = self._credentials.lookup(answer.username)
        password = await found if inspect.isawaitable(found) else found
        request_id = f"{request.call_id}|{request.cseq.number}|{request.top_via.branch}"
        return self._digest.verify_with(answer, request.method, source, password, request_id)

    def _challenge(
        self, request: SipRequest, source: str, stale: bool = False, nonce: str | None = None
    ) -> _Reply:
        algorithms = self.settings.algorithms
        agent = (request.headers.get("User-Agent") or "").lower()
        if MD5 in algorithms and any(
            agent.startswith(p.lower()) for p in self.settings.md5_only_user_agents
        ):
            algorithms = (MD5,)
        values = self._digest.challenges(source, stale=stale, algorithms=algorithms, nonce=nonce)
        return _Reply(401, "Unauthorized", [("WWW-Authenticate", v) for v in values])

    async def _register(self, request: SipRequest, flow: Flow, aor: str, now: float) -> _Reply:
        settings = self.settings
        try:
            contacts = _contacts(request, settings)
        except SipParseError as exc:
            return _Reply(400, f"Bad Request ({exc.reason})")
        if isinstance(contacts, _Reply):
            return contacts
        call_id, cseq = request.call_id, request.cseq.number
        user_agent = (request.headers.get("User-Agent") or "")[:200]
        host, port = flow.address
        removed: list[str] = []

        def change(existing: list[Binding]) -> list[Binding]:
            removed.clear()
            by_contact = {b.contact: b for b in existing}
            touched = list(by_contact) if contacts is None else [c.uri for c in contacts]
            for uri in touched:
                old = by_contact.get(uri)
                if old is not None and old.call_id == call_id and cseq <= old.cseq:
                    raise _OutOfOrderError(uri)
            if contacts is None:
                removed.extend(by_contact)
                return []
            for contact in contacts:
                if contact.expires == 0:
                    if by_contact.pop(contact.uri, None) is not None:
                        removed.append(contact.uri)
                    continue
                by_contact[contact.uri] = Binding(
                    aor=aor,
                    contact=contact.uri,
                    expires_at=now + contact.expires,
                    call_id=call_id,
                    cseq=cseq,
                    transport=flow.transport,
                    source_host=host,
                    source_port=port,
                    user_agent=user_agent,
                    q=contact.q,
                    registered_at=now,
                )
            ours = {c.uri for c in contacts}
            kept = sorted(
                by_contact.values(), key=lambda b: (b.contact in ours, b.expires_at), reverse=True
            )
            return kept[: settings.max_contacts]

        try:
            current = await self.store.update(aor, change, now)
        except _OutOfOrderError:
            return _Reply(500, "Server Internal Error (CSeq not above the binding's)")
        except RedisUnavailableError:
            return _Reply(503, "Service Unavailable (bindings store)", [("Retry-After", "5")])
        except StoreConflictError:
            return _Reply(500, None, [("Retry-After", "1")])
        if contacts:
            self.stats.registered += 1
        if removed:
            self.stats.unregistered += 1
        await self._tell(aor, max((b.expires_at for b in current), default=None))
        log.info(
            "REGISTER %s from %s: %d binding(s)%s",
            aor,
            flow,
            len(current),
            f", removed {len(removed)}" if removed else "",
        )
        headers = [("Contact", _contact_value(b, now)) for b in current]
        headers.append(("Date", formatdate(now, usegmt=True)))
        return _Reply(200, "OK", headers)

    async def _tell(self, aor: str, until: float | None) -> None:
        """Run the ``on_bindings`` hook; the bindings are stored whatever it does."""
        if self.on_bindings is None:
            return
        try:
            result = self.on_bindings(aor, until)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_bindings hook failed for %r", aor)

    def _forget_transactions(self, now: float) -> None:
        horizon = now - self.settings.transaction_seconds
        while self._transactions:
            first = next(iter(self._transactions.values()))
            if first[0] > horizon:
                break
            self._transactions.popitem(last=False)


def _contacts(request: SipRequest, settings: RegistrarSettings) -> list[_Contact] | _Reply | None:
    """The request's contacts with their granted expiry; None for ``Contact: *``.

    A ``_Reply`` when the request must be refused (``400``, ``423``).
    """
    header_expires = _seconds(request.headers.get("Expires"))
    values: list[str] = []
    for header in request.headers.get_all("Contact"):
        values.extend(split_header_list(header))
    if any(v.strip() == "*" for v in values):
        if len(values) != 1 or header_expires != 0:
            return _Reply(400, "Bad Request (Contact: * needs Expires: 0 and no other contact)")
        return None
    contacts: dict[str, _Contact] = {}
    too_brief = False
    for value in values:
        address = parse_name_addr(value, "Contact")
        uri = _normalise(address.uri)
        asked = _seconds(address.params.get("expires"))
        if asked is None:
            asked = header_expires
        if asked is None:
            asked = settings.default_expires
        if 0 < asked < settings.min_expires:
            too_brief = True
        contacts[uri] = _Contact(uri, min(asked, settings.max_expires), address.params.get("q"))
    if too_brief:
        return _Reply(423, "Interval Too Brief", [("Min-Expires", str(settings.min_expires))])
    return list(contacts.values())


def _seconds(text: str | None) -> int | None:
    """A delta-seconds value; None when absent or unreadable (then the default applies)."""
    if text is None:
        return None
    text = text.strip()
    if not text.isdigit():
        return None
    return min(int(text), 2**32 - 1)


def _normalise(uri: str) -> str:
    """The URI as we key and send it: scheme and host lower-cased (RFC 3261 19.1.4)."""
    parsed = parse_uri(uri)
    parsed.host = parsed.host.lower()
    return str(parsed)


def _same_uri(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return _normalise(a) == _normalise(b)
    except SipParseError:
        return False


def _realm_of(value: str) -> str | None:
    try:
        return parse_auth_params(value.strip().partition(" ")[2]).get("realm")
    except DigestParseError:
        return None


def _contact_value(binding: Binding, now: float) -> str:
    q = f";q={binding.q}" if binding.q is not None else ""
    return f"<{binding.contact}>;expires={binding.remaining(now)}{q}"


def _transaction_key(request: SipRequest, flow: Flow) -> tuple[str, ...]:
    via = request.top_via
    return (
        str(flow),
        request.call_id,
        str(request.cseq.number),
        via.branch or "",
    )


def _tag(request: SipRequest) -> str:
    """Our To tag: the same for a retransmission (it gets the cached response anyway)."""
    key = f"{request.call_id}|{request.cseq.number}|{request.from_tag}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]
