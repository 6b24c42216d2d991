"""Agents through the running service: the REST API, bound tokens, registrations, restarts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from callcenter.sip.digest import SHA256
from tests.integration.sip.test_register import UdpPhone
from tests.support.service import ADMIN_TOKEN, AGENT_TOKEN, SUPERVISOR_TOKEN, running_service

pytestmark = pytest.mark.e2e

ANN_TOKEN = "e2e-ann-bound-token-0123456789"
PASSWORD = "correct-horse-battery"
SETTINGS: dict[str, Any] = {
    "agents": [
        # sip_username agent1: the name tests.support.sip_register's client authenticates as
        {"id": "ann", "name": "Ann", "sip_username": "agent1", "password": PASSWORD,
         "skills": {"billing": 5}, "queues": ["billing"]},
        {"id": "bob", "name": "Bob", "password": PASSWORD, "queues": ["support"]},
    ],
    "http": {"tokens": {ANN_TOKEN: "agent:ann", ADMIN_TOKEN: "admin",
                        SUPERVISOR_TOKEN: "supervisor", AGENT_TOKEN: "agent"}},
}  # fmt: skip


def _until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_agents_are_listed_for_supervisors(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=SETTINGS) as service:
        status, body = service.api("/api/agents", token=SUPERVISOR_TOKEN)
        assert status == 200, body
        assert [(a["id"], a["status"], a["registered"]) for a in body["agents"]] == [
            ("ann", "offline", False),
            ("bob", "offline", False),
        ]
        status, body = service.api("/api/agents", token=ANN_TOKEN)
        assert (status, body["error_id"]) == (403, "forbidden")


def test_a_bound_token_drives_its_agent_and_no_other(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=SETTINGS) as service:
        status, body = service.api("/api/agents/ann/login", ANN_TOKEN, "POST")
        assert (status, body["status"]) == (200, "available"), body
        status, body = service.api("/api/agents/ann/pause", ANN_TOKEN, "POST", {"reason": "lunch"})
        assert (status, body["status"], body["reason"]) == (200, "paused", "lunch"), body
        status, body = service.api("/api/agents/bob/login", ANN_TOKEN, "POST")
        assert (status, body["error_id"]) == (403, "forbidden")
        status, body = service.api("/api/agents/ann/login", AGENT_TOKEN, "POST")
        assert (status, body["error_id"]) == (403, "forbidden")  # plain agent: bound to no one
        status, body = service.api("/api/agents/ann/login", ANN_TOKEN, "POST")
        assert (status, body["error_id"]) == (409, "agent-logged-in")
        status, body = service.api("/api/agents/ann/pause", ANN_TOKEN, "POST", {})
        assert (status, body["error_id"]) == (400, "invalid-pause-reason")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
    with running_service(tmp_path / "one", settings=SETTINGS, data_dir=data_dir) as service:
        assert service.api("/api/agents/ann/login", method="POST")[0] == 200
        status, body = service.api("/api/agents/ann/pause", method="POST", body={"reason": "lunch"})
        assert status == 200, body
        since = body["since"]
    with running_service(tmp_path / "two", settings=SETTINGS, data_dir=data_dir) as service:
        status, body = service.api("/api/agents/ann", token=ANN_TOKEN)
        assert status == 200, body
        assert (body["status"], body["reason"], body["since"]) == ("paused", "lunch", since)
        assert service.api("/api/agents/bob")[1]["status"] == "offline"
        status, body = service.api("/api/agents/ann/ready", ANN_TOKEN, "POST")
        assert (status, body["status"]) == (200, "available")


def test_register_and_unregister_show_in_the_api(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=SETTINGS) as service:
        phone = UdpPhone(service.sip_port)
        try:
            response = phone.register(PASSWORD, SHA256, expires=300)
            assert response.status == 200, response
            assert service.api("/api/agents/ann", ANN_TOKEN)[1]["registered"] is True
            assert service.api("/api/agents/bob")[1]["registered"] is False
            response = phone.register(PASSWORD, SHA256, cseq=10, contacts=["*"], expires=0)
            assert response.status == 200, response
            assert service.api("/api/agents/ann", ANN_TOKEN)[1]["registered"] is False
        finally:
            phone.close()


def test_a_token_bound_to_an_unknown_agent_stops_the_start(tmp_path: Path) -> None:
    settings = {**SETTINGS, "http": {"tokens": {ANN_TOKEN: "agent:zed"}}}
    with running_service(tmp_path, settings=settings, wait_ready=False) as service:
        code = _until(lambda: service.process.poll() is not None, timeout=60) and (
            service.process.returncode
        )
        assert code != 0
        assert "'zed'" in service.log() and "http.tokens" in service.log()
