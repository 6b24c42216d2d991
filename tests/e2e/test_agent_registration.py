"""Agents' softphones register with the running service by digest authentication."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.baresip import BARESIP, Softphone
from tests.support.service import Service, running_service

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(BARESIP is None, reason="baresip is not installed"),
]

AGENT = {
    "id": "agent1",
    "name": "Ann Agent",
    "password": "correct-horse-battery",
    "skills": {"billing": 5},
    "queues": ["billing"],
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path, settings={"agents": [AGENT]}) as running:
        yield running


def _registrar(service: Service) -> dict[str, Any]:
    status, health = service.api("/healthz", token=None)
    assert status == 200, health
    return dict(health["registrar"])


def _until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_baresip_registers_with_the_agents_password(service: Service, tmp_path: Path) -> None:
    phone = Softphone(tmp_path / "baresip", service.sip_port, str(AGENT["password"]))
    try:
        _until(lambda: _registrar(service)["registered"] >= 1)
        assert _registrar(service)["auth_failures"] == 0
    finally:
        phone.terminate()
    # baresip un-registers on SIGTERM
    _until(lambda: _registrar(service)["unregistered"] >= 1)
    assert "correct-horse" not in service.log()  # no secret in the logs


def test_a_wrong_password_never_registers(service: Service, tmp_path: Path) -> None:
    phone = Softphone(tmp_path / "baresip", service.sip_port, "wrong-password-1")
    try:
        _until(lambda: _registrar(service)["auth_failures"] >= 1)
        assert _registrar(service)["registered"] == 0
    finally:
        phone.terminate()
