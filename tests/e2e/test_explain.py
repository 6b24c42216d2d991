"""``GET /api/routing/explain`` on the real service: why a caller is still waiting.

The only agent of the billing queue is logged in with a registered softphone, but its billing
level is below the queue's minimum, so the caller waits on hold; the explanation must name that
agent and the skill it lacks (and ``/api/queues`` must show the caller in line).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.phone import start_agent_phone, start_phone
from tests.support.service import SUPERVISOR_TOKEN, Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"

SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},
    "skills": ["billing", "tech"],
    "queues": {"billing": {"skills": {"billing": 3}}, "support": {"skills": {"tech": 2}}},
    "agents": [
        {"id": "lou", "name": "Lou", "password": PASSWORD, "skills": {"billing": 2},
         "queues": ["billing"]},
    ],
}  # fmt: skip


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path, settings=SETTINGS) as running:
        yield running


def _queued_call(service: Service) -> str | None:
    status, body = service.api("/api/calls?limit=5", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    queued = [c["call_id"] for c in body["calls"] if c["outcome"] == "queued"]
    return queued[0] if queued else None


def _until(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_the_explanation_names_the_agent_and_the_skill_it_lacks(service: Service) -> None:
    lou = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username="lou",
        password=PASSWORD,
        answer_after=0.5,
        wait=15,
        duration=1,
    )
    assert lou.wait_ready().get("registered")
    status, body = service.api("/api/agents/lou/login", method="POST", body={})
    assert (status, body["status"]) == (200, "available"), body
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=8.0
    )
    call_id = _until(lambda: _queued_call(service))

    status, body = service.api(f"/api/routing/explain?call={call_id}", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    assert (body["state"], body["queue"], body["chosen"]) == ("waiting", "billing", None)
    assert body["priority"] == 3  # from the flow's queue node
    assert body["requirements"]["levels"] == {"billing": 3}
    (row,) = body["agents"]
    assert (row["agent_id"], row["status"], row["registered"]) == ("lou", "available", True)
    assert row["reasons"] == [
        {
            "code": "missing-skill",
            "skill": "billing",
            "has": 2,
            "needs": 3,
            "message": "skill billing too low (has 2, needs 3)",
        }
    ]
    assert body["summary"] == f"call {call_id} waits: none of 1 agents is eligible"

    status, body = service.api("/api/routing/explain?agent=lou", token=SUPERVISOR_TOKEN)
    assert (status, body["would_take"]) == (200, None), body
    assert [c["call_id"] for c in body["calls"]] == [call_id]

    status, body = service.api("/api/queues", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    billing = next(q for q in body["queues"] if q["name"] == "billing")
    assert [c["call_id"] for c in billing["calls"]] == [call_id]
    assert (billing["agents"]["staffed"], billing["agents"]["available"]) == (1, 1)

    result = caller.wait()
    assert result.answered
    assert lou.wait_agent().incoming is False  # never offered a call it lacks the skill for
