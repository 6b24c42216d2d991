"""The registrar with an in-memory bindings store and a fake clock (RFC 3261 10.3)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import pytest
import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.sip.digest import MD5, SHA256
from callcenter.sip.message import SipRequest, SipResponse, parse_message
from callcenter.sip.registrar import (
    FailureGuard,
    LookupBy,
    Registrar,
    RegistrarSettings,
    binding_flow,
)
from callcenter.sip.transport import Flow
from callcenter.store.link import RedisUnavailableError
from callcenter.store.registrations import Binding, Change, MemoryBindingStore
from tests.support.sip_register import authorization, challenge_for, register

PHONE = Flow("udp", ("192.0.2.10", 40000))  # the NATed source, not the Contact's address
OTHER = Flow("udp", ("192.0.2.99", 5060))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Passwords:
    def __init__(self, **passwords: str) -> None:
        self.passwords = passwords

    def lookup(self, username: str) -> str | None:
        return self.passwords.get(username)


class Env:
    def __init__(self, **settings: Any) -> None:
        self.clock = Clock()
        self.store = MemoryBindingStore()
        self.settings = RegistrarSettings(**settings)
        self.registrar = Registrar(
            self.settings, Passwords(agent1="secret", agent2="pw2"), self.store, self.clock
        )

    async def send(self, request: SipRequest, flow: Flow = PHONE) -> SipResponse:
        response: SipResponse = await as_deferred(self.registrar.handle(request, flow))
        # What goes on the wire must parse back.
        parsed = parse_message(response.to_bytes())
        assert isinstance(parsed, SipResponse)
        return parsed

    async def authed(
        self,
        flow: Flow = PHONE,
        password: str = "secret",
        username: str = "agent1",
        algorithm: str = SHA256,
        nc: int | None = 1,
        **kwargs: Any,
    ) -> SipResponse:
        """REGISTER, get challenged, answer the challenge: the final response."""
        cseq = kwargs.pop("cseq", 1)
        first = await self.send(register(cseq=cseq, **kwargs), flow)
        if first.status != 401:
            return first
        value = authorization(
            challenge_for(first, algorithm),
            username=username,
            password=password,
            uri=kwargs.get("uri", "sip:127.0.0.1"),
            nc=nc,
        )
        return await self.send(register(cseq=cseq + 1, authorization=value, **kwargs), flow)

    async def bindings(self, aor: str = "agent1") -> list[Binding]:
        return await self.registrar.bindings(aor)


def contacts(response: SipResponse) -> list[str]:
    return response.headers.get_all("Contact")


@pytest.fixture
def env() -> Env:
    return Env()


@pytest_twisted.ensureDeferred
async def test_first_register_is_challenged_sha256_first(env: Env) -> None:
    response = await env.send(register())
    assert response.status == 401
    challenges = response.headers.get_all("WWW-Authenticate")
    assert len(challenges) == 2
    assert "algorithm=SHA-256" in challenges[0] and "algorithm=MD5" in challenges[1]
    assert all('realm="callcenter"' in c and 'qop="auth"' in c for c in challenges)
    assert response.to_tag
    assert await env.bindings() == []


@pytest_twisted.ensureDeferred
async def test_baresip_1_is_offered_md5_only(env: Env) -> None:
    response = await env.send(register(user_agent="baresip v1.0.0 (x86_64/linux)"))
    challenges = response.headers.get_all("WWW-Authenticate")
    assert len(challenges) == 1 and "algorithm=MD5" in challenges[0]


@pytest.mark.parametrize("algorithm", [SHA256, MD5])
@pytest_twisted.ensureDeferred
async def test_right_password_registers_with_the_nat_flow(env: Env, algorithm: str) -> None:
    response = await env.authed(algorithm=algorithm, expires=120)
    assert response.status == 200, response
    assert contacts(response) == ["<sip:agent1@192.0.2.10:5062>;expires=120"]
    assert (response.headers.get("Date") or "").endswith("GMT")
    [binding] = await env.bindings()
    assert binding.contact == "sip:agent1@192.0.2.10:5062"
    assert binding.source == ("192.0.2.10", 40000)  # where it came from, not the Contact
    assert binding_flow(binding) == PHONE
    assert binding.user_agent == "test-phone/1.0"
    assert binding.expires_at == env.clock.now + 120
    assert env.registrar.stats.registered == 1


@pytest_twisted.ensureDeferred
async def test_legacy_digest_without_qop(env: Env) -> None:
    response = await env.authed(algorithm=MD5, nc=None)
    assert response.status == 200


@pytest_twisted.ensureDeferred
async def test_wrong_password_is_401_again_and_stores_nothing(env: Env) -> None:
    first = await env.send(register())
    value = authorization(challenge_for(first), password="wrong")
    response = await env.send(register(cseq=2, authorization=value))
    assert response.status == 401
    assert len(response.headers.get_all("WWW-Authenticate")) == 2
    assert await env.bindings() == []
    assert env.registrar.stats.auth_failures == 1
    # Challenged again with the nonce it used: its password, not its nonce, was refused.
    assert challenge_for(response)["nonce"] == challenge_for(first)["nonce"]


@pytest_twisted.ensureDeferred
async def test_unknown_user_is_401(env: Env) -> None:
    response = await env.authed(username="nobody", user="nobody")
    assert response.status == 401
    assert env.registrar.stats.auth_failures == 1


@pytest_twisted.ensureDeferred
async def test_authenticated_user_must_be_the_to_user(env: Env) -> None:
    response = await env.authed(username="agent2", password="pw2", to_user="agent1")
    assert response.status == 403
    assert await env.bindings() == []


@pytest_twisted.ensureDeferred
async def test_expired_nonce_gets_a_stale_challenge_not_a_failure(env: Env) -> None:
    first = await env.send(register())
    value = authorization(challenge_for(first))
    env.clock.now += env.settings.nonce_lifetime + 1
    response = await env.send(register(cseq=2, authorization=value))
    assert response.status == 401
    assert all("stale=true" in c for c in response.headers.get_all("WWW-Authenticate"))
    assert env.registrar.stats.auth_failures == 0 and env.registrar.stats.stale == 1
    # The phone answers the fresh challenge and is registered.
    again = authorization(challenge_for(response), nc=1)
    assert (await env.send(register(cseq=3, authorization=again))).status == 200


@pytest_twisted.ensureDeferred
async def test_authorization_for_another_realm_is_challenged(env: Env) -> None:
    first = await env.send(register())
    value = authorization(challenge_for(first), realm="elsewhere")
    response = await env.send(register(cseq=2, authorization=value))
    assert response.status == 401
    assert env.registrar.stats.auth_failures == 0


@pytest_twisted.ensureDeferred
async def test_malformed_authorization_is_400(env: Env) -> None:
    bad = 'Digest username="agent1", realm="callcenter", nonce="x"'
    response = await env.send(register(authorization=bad))
    assert response.status == 400
    assert "missing uri, response" in response.reason


@pytest_twisted.ensureDeferred
async def test_digest_uri_must_be_the_request_uri(env: Env) -> None:
    first = await env.send(register())
    value = authorization(challenge_for(first), uri="sip:elsewhere.example")
    response = await env.send(register(cseq=2, authorization=value))
    assert response.status == 400


@pytest_twisted.ensureDeferred
async def test_require_is_refused_with_420(env: Env) -> None:
    response = await env.send(register(extra=[("Require", "gruu")]))
    assert response.status == 420
    assert response.headers.get("Unsupported") == "gruu"


@pytest_twisted.ensureDeferred
async def test_expires_bounds(env: Env) -> None:
    too_brief = await env.authed(expires=30)
    assert too_brief.status == 423
    assert too_brief.headers.get("Min-Expires") == "60"
    assert await env.bindings() == []
    capped = await env.authed(expires=999999, call_id="r2")
    assert contacts(capped) == ["<sip:agent1@192.0.2.10:5062>;expires=3600"]
    param_wins = await env.authed(
        expires=600, contacts=["<sip:agent1@192.0.2.10:5062>;expires=300"], call_id="r3"
    )
    assert contacts(param_wins) == ["<sip:agent1@192.0.2.10:5062>;expires=300"]
    default = await env.authed(call_id="r4", expires="soon")
    assert contacts(default) == ["<sip:agent1@192.0.2.10:5062>;expires=3600"]


@pytest_twisted.ensureDeferred
async def test_several_contacts_then_remove_one_then_all(env: Env) -> None:
    a, b = "<sip:agent1@192.0.2.10:5062>", "<sip:agent1@198.51.100.7:5060;transport=tcp>"
    response = await env.authed(contacts=[f"{a}, {b};q=0.5"], expires=300)
    assert response.status == 200
    assert sorted(contacts(response)) == sorted(
        [f"{a};expires=300", "<sip:agent1@198.51.100.7:5060;transport=tcp>;expires=300;q=0.5"]
    )
    # Another phone of the same agent, from elsewhere.
    response = await env.authed(
        flow=OTHER, contacts=["<sip:agent1@192.0.2.99>"], call_id="desk", expires=120
    )
    assert len(contacts(response)) == 3
    env.clock.now += 10
    response = await env.authed(contacts=[f"{a};expires=0"], cseq=5)
    assert sorted(contacts(response)) == sorted(
        [
            "<sip:agent1@198.51.100.7:5060;transport=tcp>;expires=290;q=0.5",
            "<sip:agent1@192.0.2.99>;expires=110",
        ]
    )
    response = await env.authed(contacts=["*"], expires=0, cseq=7)
    assert response.status == 200 and contacts(response) == []
    assert await env.bindings() == []
    assert await env.store.registered(env.clock.now) == []
    assert env.registrar.stats.unregistered == 2


@pytest_twisted.ensureDeferred
async def test_wildcard_needs_expires_zero_and_no_other_contact(env: Env) -> None:
    assert (await env.authed(contacts=["*"], expires=60)).status == 400
    assert (await env.authed(contacts=["*", "<sip:a@b>"], expires=0, cseq=5)).status == 400
    assert (await env.authed(contacts=["*"], cseq=9)).status == 400


@pytest_twisted.ensureDeferred
async def test_query_without_contact_lists_bindings(env: Env) -> None:
    await env.authed(expires=100)
    env.clock.now += 40
    response = await env.authed(contacts=[], cseq=5)
    assert contacts(response) == ["<sip:agent1@192.0.2.10:5062>;expires=60"]


@pytest_twisted.ensureDeferred
async def test_same_call_id_lower_cseq_fails_other_call_id_does_not(env: Env) -> None:
    assert (await env.authed(cseq=10, expires=300)).status == 200  # stored with CSeq 11
    stale = await env.authed(cseq=5, expires=0)
    assert stale.status == 500
    assert len(await env.bindings()) == 1
    other = await env.authed(cseq=1, call_id="another", expires=0)
    assert other.status == 200
    assert await env.bindings() == []


@pytest_twisted.ensureDeferred
async def test_retransmission_gets_the_same_response(env: Env) -> None:
    first = await env.send(register())
    value = authorization(challenge_for(first))
    request = register(cseq=2, authorization=value, branch="z9hG4bK-same")
    ok = await env.send(request)
    again = await env.send(register(cseq=2, authorization=value, branch="z9hG4bK-same"))
    assert ok.status == again.status == 200
    assert ok.to_bytes() == again.to_bytes()
    assert env.registrar.stats.retransmissions == 1
    assert env.registrar.stats.registered == 1
    # After the transaction is forgotten, the same CSeq is an out-of-order request.
    env.clock.now += env.settings.transaction_seconds + 1
    late = await env.send(register(cseq=2, authorization=value, branch="z9hG4bK-same"))
    assert late.status in (401, 500)


@pytest_twisted.ensureDeferred
async def test_registration_lapses(env: Env) -> None:
    await env.authed(expires=60)
    assert await env.store.registered(env.clock.now) == ["agent1"]
    env.clock.now += 59
    assert len(await env.bindings()) == 1
    env.clock.now += 1
    assert await env.bindings() == []
    assert await env.store.registered(env.clock.now) == []


@pytest_twisted.ensureDeferred
async def test_too_many_contacts_drops_the_soonest_expiring() -> None:
    env = Env(max_contacts=2)
    await env.authed(contacts=["<sip:agent1@10.0.0.1>"], call_id="a", expires=100)
    await env.authed(contacts=["<sip:agent1@10.0.0.2>"], call_id="b", expires=200)
    response = await env.authed(contacts=["<sip:agent1@10.0.0.3>"], call_id="c", expires=60)
    assert sorted(contacts(response)) == [
        "<sip:agent1@10.0.0.2>;expires=200",
        "<sip:agent1@10.0.0.3>;expires=60",
    ]


@pytest_twisted.ensureDeferred
async def test_repeated_failures_block_the_source_only() -> None:
    env = Env(max_failures=5, failure_window=60, block_seconds=300)
    attacker = Flow("udp", ("127.0.0.2", 5060))
    for n in range(5):
        response = await env.authed(flow=attacker, password=f"guess{n}", call_id=f"x{n}")
        assert response.status == 401
    blocked = await env.authed(flow=attacker, password="secret", call_id="right")
    assert blocked.status == 403 and "too many failed" in blocked.reason
    assert blocked.headers.get("WWW-Authenticate") is None
    # Everyone else is unaffected.
    assert (await env.authed(flow=PHONE)).status == 200
    env.clock.now += 301
    assert (await env.authed(flow=attacker, call_id="later")).status == 200


@pytest_twisted.ensureDeferred
async def test_slow_failures_do_not_block() -> None:
    env = Env(max_failures=3, failure_window=60)
    for n in range(6):
        assert (await env.authed(password="bad", call_id=f"c{n}")).status == 401
        env.clock.now += 31
    assert (await env.authed()).status == 200


@pytest_twisted.ensureDeferred
async def test_no_password_or_response_in_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first = await env.send(register())
    value = authorization(challenge_for(first), password="hunter2-wrong")
    response_value = value.split('response="')[1].split('"')[0]
    await env.send(register(cseq=2, authorization=value))
    ok = authorization(challenge_for(first), cnonce="abc")
    await env.send(register(cseq=3, authorization=ok))
    text = caplog.text
    assert "authentication failed for 'agent1'" in text
    for secret in ("hunter2-wrong", "secret", response_value, ok.split('response="')[1][:32]):
        assert secret not in text


class AsyncPasswords:
    async def lookup_async(self, username: str) -> str | None:
        return {"agent1": "secret"}.get(username)

    def lookup(self, username: str) -> Awaitable[str | None]:
        return self.lookup_async(username)


@pytest_twisted.ensureDeferred
async def test_async_password_lookup() -> None:
    env = Env()
    env.registrar = Registrar(env.settings, AsyncPasswords(), env.store, env.clock)
    assert (await env.authed()).status == 200


class DownStore(MemoryBindingStore):
    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        raise RedisUnavailableError("Redis is unavailable")


@pytest_twisted.ensureDeferred
async def test_store_down_is_503() -> None:
    env = Env()
    env.registrar = Registrar(env.settings, Passwords(agent1="secret"), DownStore(), env.clock)
    response = await env.authed()
    assert response.status == 503 and response.headers.get("Retry-After") == "5"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="min_expires"):
        Registrar(
            replace(RegistrarSettings(), min_expires=0),
            Passwords(),
            MemoryBindingStore(),
        )


def test_failure_guard_window_and_block() -> None:
    guard = FailureGuard(max_failures=3, window=10, block_seconds=100, max_sources=2)
    assert not guard.failed("a", 0) and not guard.failed("a", 5)
    assert guard.failed("a", 9)
    assert guard.blocked_for("a", 50) == 59
    assert guard.blocked_for("a", 109) == 0
    assert not guard.failed("b", 0) and not guard.failed("b", 20) and not guard.failed("b", 40)
    assert guard.blocked_sources == 0


@pytest_twisted.ensureDeferred
async def test_a_plain_function_as_password_lookup() -> None:
    env = Env()
    lookup = LookupBy({"agent1": "secret"}.get)
    env.registrar = Registrar(env.settings, lookup, env.store, env.clock)
    assert (await env.authed()).status == 200
