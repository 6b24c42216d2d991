"""The registrar's ``on_bindings`` hook: what routing hears after REGISTER / un-REGISTER."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from tests.unit.sip.test_registrar import Env

Heard = list[tuple[str, float | None]]


def _env(heard: Heard, fail: bool = False, is_async: bool = False) -> Env:
    env = Env()

    def hook(aor: str, until: float | None) -> None:
        heard.append((aor, until))
        if fail:
            raise RuntimeError("routing is down")

    async def async_hook(aor: str, until: float | None) -> None:
        hook(aor, until)

    env.registrar.on_bindings = async_hook if is_async else hook
    return env


@pytest_twisted.ensureDeferred
async def test_register_then_unregister_reports_the_latest_expiry_then_none() -> None:
    heard: Heard = []
    env = _env(heard, is_async=True)
    t0 = env.clock.now
    ok = await env.authed(expires=300)
    assert ok.status == 200
    more = await env.authed(
        contacts=["<sip:agent1@192.0.2.11:5062>"], expires=600, call_id="reg-2", cseq=5
    )
    assert more.status == 200
    assert heard == [("agent1", t0 + 300), ("agent1", t0 + 600)]
    env.clock.now += 10
    gone = await env.authed(contacts=["*"], expires=0, cseq=20)
    assert gone.status == 200
    assert heard[-1] == ("agent1", None)


@pytest_twisted.ensureDeferred
async def test_failed_authentication_says_nothing() -> None:
    heard: Heard = []
    env = _env(heard)
    response = await env.authed(password="wrong")
    assert response.status == 401
    assert heard == []


@pytest_twisted.ensureDeferred
async def test_a_failing_hook_does_not_fail_the_register(caplog: Any) -> None:
    heard: Heard = []
    env = _env(heard, fail=True)
    response = await env.authed(expires=300)
    assert response.status == 200
    assert len(heard) == 1
    assert "on_bindings hook failed" in caplog.text
