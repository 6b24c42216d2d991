"""A real softphone (baresip, Debian package) registers with digest auth through the front.

baresip runs headless: a temporary config dir (``-f``) with only ``account.so`` loaded, no
audio or UI modules, listening on loopback, and ``-t`` as a hard stop in case a test's own
clean-up never runs. Debian 12's baresip 1.0 (libre 1.1) gives up on any SHA-256 challenge,
so the registrar offers it MD5 alone (by its User-Agent). With a wrong password it retries
without end, so it runs into the failure guard.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from callcenter.store.registrations import Binding
from tests.integration.sip.test_register import RegEnv, reg_env
from tests.support.baresip import BARESIP, Softphone

__all__ = ["reg_env"]  # the fixture, shared with the sipp tests

pytestmark = pytest.mark.skipif(BARESIP is None, reason="baresip is not installed")


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Callable[[RegEnv, str], Softphone]]:
    started: list[Softphone] = []

    def start(env: RegEnv, password: str) -> Softphone:
        phone = Softphone(tmp_path / f"baresip{len(started)}", env.port, password)
        started.append(phone)
        return phone

    yield start
    for phone in started:
        if phone.process.poll() is None:
            phone.process.kill()
            phone.process.wait()


def _until(check: Callable[[], Any], timeout: float = 10.0) -> Generator[Any, Any, Any]:
    """Poll ``check`` (which may return a Deferred) on the reactor until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = yield check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        yield deferLater(reactor, 0.1, lambda: None)


@pytest_twisted.inlineCallbacks
def test_baresip_registers_with_the_right_password(
    reg_env: RegEnv, phones: Callable[[RegEnv, str], Softphone]
) -> Generator[Any, Any, None]:
    phone = phones(reg_env, "secret")
    bindings: list[Binding] = yield from _until(reg_env.bindings)
    [binding] = bindings
    assert binding.user_agent.startswith("baresip")
    assert binding.transport == "udp" and binding.source[0] == "127.0.0.1"
    assert binding.contact.startswith("sip:agent1-")
    assert binding.expires_at - time.time() > 50  # regint=60
    assert reg_env.registrar.stats.auth_failures == 0
    # Stopping the phone un-registers it (REGISTER with expires=0) before it exits.
    phone.process.send_signal(signal.SIGTERM)
    yield from _until(lambda: phone.process.poll() is not None, timeout=8)
    assert (yield reg_env.bindings()) == [], phone.log()


@pytest_twisted.inlineCallbacks
def test_baresip_with_a_wrong_password_is_not_registered(
    reg_env: RegEnv, phones: Callable[[RegEnv, str], Softphone]
) -> Generator[Any, Any, None]:
    # baresip 1.0 answers every 401 again at once (same nonce, new cnonce), in a loop: the
    # failure guard is what stops it, so this phone ends up blocking its own address.
    phone = phones(reg_env, "wrong-password")
    stats = reg_env.registrar.stats
    yield from _until(lambda: stats.auth_failures >= 1)
    yield from _until(lambda: "reg: " in phone.log())  # baresip reports its failure
    assert (yield reg_env.bindings()) == []
    assert stats.registered == 0
    assert stats.auth_failures <= reg_env.registrar.settings.max_failures
    phone.terminate()
    assert "403 Forbidden (too many failed authentications)" in phone.log(), phone.log()
