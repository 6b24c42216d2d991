"""What a caller experiences while waiting: announcements, overflow, empty-queue rules.

Real service, real SIP and RTP: the caller is a pjsua2 phone that presses 1 (billing) in
``flows/ivr.yaml``; agents are pjsua2 phones. Timings are shrunk in the queue config so each
test is a few seconds long. The event log is read straight from Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"
BILLING = [(0.5, "1", "rfc4733")]


def _settings(billing: dict[str, Any]) -> dict[str, Any]:
    return {
        "flows_dir": str(FLOWS),
        "numbers": {"100": "ivr.yaml"},
        "queues": {
            "billing": {"ring_timeout_seconds": 3, "wrap_up_seconds": 1, **billing},
            "support": {"ring_timeout_seconds": 3, "wrap_up_seconds": 1},
        },
        "agents": [
            {"id": "ann", "password": PASSWORD, "queues": ["billing"]},
            {"id": "tess", "password": PASSWORD, "queues": ["support"]},
        ],
    }


def _events(url: str, call_id: str) -> list[dict[str, Any]]:
    """The call's events, each with its ``data`` fields merged in."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries = client.xrange("cc:events") or []
    finally:
        client.close()
    found = []
    for _, raw in entries:
        fields = {str(k): str(v) for k, v in (raw or {}).items()}
        if fields.get("call_id") == call_id:
            found.append({**fields, **json.loads(fields.get("data", "{}"))})
    return found


def _until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _agent_phone(service: Service, name: str, tmp_path: Path) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username=name,
        password=PASSWORD,
        record_to=tmp_path / f"{name}-heard.wav",
        answer_after=0.5,
        wait=30,
        duration=2,
    )
    assert phone.wait_ready().get("registered")
    return phone


def _api(service: Service, path: str) -> None:
    status, body = service.api(path, method="POST", body={})
    assert status == 200, body


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_a_waiting_caller_hears_its_position(tmp_path: Path, redis_server: RedisServer) -> None:
    billing = {"announce_position": True, "announce_wait": True, "announce_first_seconds": 3,
               "announce_every_seconds": 60}  # fmt: skip
    with running_service(tmp_path, redis_server.url, settings=_settings(billing)) as service:
        caller = start_phone(f"sip:100@{service.sip_uri_host}", dtmf=BILLING, duration=9.0)
        result = caller.wait()
        assert result.answered and result.call_id is not None, result
        record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
        assert record["outcome"] == "abandoned"  # the caller hung up while waiting
        assert record["wait"] is not None and record["wait"] > 5
        events = _events(redis_server.url, result.call_id)
        announced = [e for e in events if e["type"] == "call.announced"]
        assert len(announced) == 1, _types(events)
        assert "You are number 1 in the queue." in announced[0]["text"]
        queued = next(float(e["at"]) for e in events if e["type"] == "call.queued")
        assert 2.5 <= float(announced[0]["at"]) - queued <= 4.5


def test_max_wait_overflows_to_a_queue_whose_agent_answers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    billing = {"max_wait_seconds": 3, "overflow": {"queue": "support"}}
    with running_service(tmp_path, redis_server.url, settings=_settings(billing)) as service:
        tess = _agent_phone(service, "tess", tmp_path)
        _api(service, "/api/agents/tess/login")
        caller = start_phone(f"sip:100@{service.sip_uri_host}", dtmf=BILLING, duration=10.0)
        result = caller.wait()
        assert result.call_id is not None
        assert tess.wait_agent().answered
        record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
        assert (record["queue"], record["agent"], record["priority"]) == ("support", "tess", 3)
        moved = [e for e in _events(redis_server.url, result.call_id)
                 if e["type"] == "call.overflowed"]  # fmt: skip
        assert len(moved) == 1
        assert (moved[0]["from_queue"], moved[0]["to_queue"]) == ("billing", "support")
        assert moved[0]["reason"] == "max-wait" and float(moved[0]["wait"]) >= 3


def test_an_empty_queue_refusing_callers_says_so_and_hangs_up(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    billing = {"join_when_empty": False, "overflow": {"message": "Nobody is here. Goodbye."}}
    with running_service(tmp_path, redis_server.url, settings=_settings(billing)) as service:
        caller = start_phone(f"sip:100@{service.sip_uri_host}", dtmf=BILLING, duration=15.0)
        result = caller.wait()
        assert result.call_id is not None
        assert result.hangup_by == "remote", result  # we hung up, after the message
        record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
        assert record["ended_by"] == "system"
        assert record["end_reason"] == "left queue: no-agents"
        types = _types(_events(redis_server.url, result.call_id))
        assert "call.left_queue" in types


def test_the_last_agent_logging_out_moves_waiting_callers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    billing = {"leave_when_empty": True, "overflow": {"queue": "support"}}
    with running_service(tmp_path, redis_server.url, settings=_settings(billing)) as service:
        _api(service, "/api/agents/ann/login")  # logged in, but no phone: never offered
        tess = _agent_phone(service, "tess", tmp_path)
        _api(service, "/api/agents/tess/login")
        caller = start_phone(f"sip:100@{service.sip_uri_host}", dtmf=BILLING, duration=12.0)
        _until(lambda: _queued(service))
        time.sleep(1.5)  # waits in billing (ann is logged in)
        _api(service, "/api/agents/ann/logout")
        result = caller.wait()
        assert result.call_id is not None
        assert tess.wait_agent().answered
        record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
        assert (record["queue"], record["agent"]) == ("support", "tess")
        moved = [e for e in _events(redis_server.url, result.call_id)
                 if e["type"] == "call.overflowed"]  # fmt: skip
        assert [m["reason"] for m in moved] == ["agents-left"]


def _queued(service: Service) -> bool:
    status, body = service.api("/api/calls")
    calls = body.get("calls", body) if isinstance(body, dict) else body
    return status == 200 and any(c.get("outcome") == "queued" for c in calls)


def test_max_wait_overflows_into_a_flow_node(tmp_path: Path, redis_server: RedisServer) -> None:
    """The caller leaves the queue for the callback menu of another flow (node `offer`)."""
    billing = {"max_wait_seconds": 3, "overflow": {"flow": "after_wait.yaml", "node": "offer"}}
    with running_service(tmp_path, redis_server.url, settings=_settings(billing)) as service:
        caller = start_phone(
            f"sip:100@{service.sip_uri_host}", dtmf=[*BILLING, (6.5, "1", "info")], duration=20.0
        )
        result = caller.wait()
        assert result.call_id is not None
        assert result.hangup_by == "remote"  # the flow ended the call
        record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
        nodes = [n["node"] for n in record["nodes"]]
        assert nodes[-3:] == ["offer", "callback", "bye"]  # started at `offer`, not `sorry`
        assert "sorry" not in nodes
        assert record["outcome"] == "completed"
        assert record["digits"][-1]["node"] == "offer"
        moved = [e for e in _events(redis_server.url, result.call_id)
                 if e["type"] == "call.overflowed"]  # fmt: skip
        assert moved[0]["to_flow"] == "after_wait.yaml"
        assert moved[0]["from_queue"] == "billing"


def test_an_overflow_node_missing_from_its_flow_stops_the_start(tmp_path: Path) -> None:
    billing = {"max_wait_seconds": 3, "overflow": {"flow": "after_wait.yaml", "node": "nope"}}
    with running_service(tmp_path, settings=_settings(billing), wait_ready=False) as service:
        assert service.process.wait(60) == 1
        assert "queues.billing.overflow.node: no node 'nope' in after_wait.yaml" in service.log()
