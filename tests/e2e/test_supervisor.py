"""Supervisor controls on the real service: real callers and agents' phones (pjsua2), real Redis.

- a caller waiting in ``billing`` (nobody there) is moved to ``sales`` by a supervisor, through
  the API of *another* ``serve`` process on the same Redis: the agent of ``sales`` is rung at
  once, answers, and the two hear each other;
- from a move on, the new queue's announcements and maximum wait apply;
- logging out an agent whose phone rings for a caller held by another controller stops the
  phone, and the caller goes to the next agent;
- a priority raise makes a later caller go first;
- a skill edit makes an agent eligible at once, and survives a restart of the service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.audio import dominant_frequency, tone
from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import SUPERVISOR_TOKEN, Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"


def _agent(agent_id: str, queues: list[str], skills: dict[str, int]) -> dict[str, Any]:
    return {"id": agent_id, "password": PASSWORD, "skills": skills, "queues": queues}


SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},  # 1: billing (priority 3), 2: support (needs tech 2)
    "skills": ["billing", "tech"],
    "queues": {
        "billing": {"ring_timeout_seconds": 8, "wrap_up_seconds": 1},
        "sales": {"ring_timeout_seconds": 8, "wrap_up_seconds": 1},
        "support": {"skills": {"tech": 2}, "ring_timeout_seconds": 8},
        "vip": {  # nobody serves it: callers hear its announcements, then leave at max wait
            "announce_position": True,
            "announce_first_seconds": 1,
            "announce_every_seconds": 30,
            "max_wait_seconds": 4,
            "overflow": {"message": "Sorry, nobody is free.", "hangup": True},
        },
    },
    "agents": [
        _agent("ann", ["billing"], {"billing": 5}),
        _agent("sam", ["sales"], {}),
    ],
}


@pytest.fixture
def service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:
    with running_service(tmp_path, redis_url=redis_server.url, settings=SETTINGS) as running:
        yield running


def _until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout} s")


def _agent_phone(front: Service, name: str, tmp_path: Path, **options: Any) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{front.sip_uri_host}",
        username=name,
        password=PASSWORD,
        wait=60,
        duration=4,
        **options,
    )
    assert phone.wait_ready().get("registered")
    return phone


def _login(service: Service, agent_id: str) -> None:
    status, body = service.api(f"/api/agents/{agent_id}/login", method="POST", body={})
    assert status == 200, body


def _caller(service: Service, digit: str, **options: Any) -> RunningPhone:
    return start_phone(
        f"sip:100@{service.sip_uri_host}",
        dtmf=[(0.5, digit, "rfc4733")],
        duration=options.pop("duration", 30.0),
        **options,
    )


def _waiting(service: Service, queue: str, count: int = 1) -> list[str]:
    """Ids of the calls waiting in ``queue``, head first, once there are ``count``."""

    def check() -> list[str] | None:
        status, body = service.api("/api/queues")
        assert status == 200, body
        found = next(q for q in body["queues"] if q["name"] == queue)
        ids = [c["call_id"] for c in found["calls"]]
        return ids if len(ids) >= count else None

    return list(_until(check, what=f"{count} call(s) waiting in {queue}"))


def _events(url: str, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries = client.xrange("cc:events") or []
    finally:
        client.close()
    out = []
    for _, fields in entries:
        if fields and fields.get("call_id") == call_id:
            out.append((str(fields["type"]), dict(json.loads(str(fields["data"])))))
    return out


def test_a_caller_moved_by_another_controller_reaches_the_agent_of_the_new_queue(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    # One contact centre: one Redis, and one history database (the controllers share the
    # history's consumer group, so each writes a share of the events into it).
    shared = {**SETTINGS, "history": {"url": f"sqlite:///{tmp_path / 'history.sqlite3'}"}}
    with ExitStack() as stack:
        holder = stack.enter_context(
            running_service(tmp_path / "a", redis_url=redis_server.url, settings=shared)
        )
        other = stack.enter_context(
            running_service(tmp_path / "b", redis_url=redis_server.url, settings=shared)
        )
        sam = _agent_phone(
            holder,
            "sam",
            tmp_path,
            answer_after=0.5,
            play=tone(tmp_path / "sam-1000.wav", 1000),
            record_to=tmp_path / "sam-heard.wav",
        )
        _login(other, "sam")
        caller = _caller(
            holder,
            "1",  # billing: nobody logged in there, the caller waits
            play=tone(tmp_path / "caller-440.wav", 440),
            loop=True,
            record_to=tmp_path / "caller-heard.wav",
            duration=14.0,
        )
        (call_id,) = _waiting(other, "billing")
        status, body = other.api(
            f"/api/calls/{call_id}/queue", SUPERVISOR_TOKEN, "POST", {"queue": "sales"}
        )
        assert status == 200, body
        assert (body["queue"], body["moved_from"], body["priority"]) == ("sales", "billing", 3)

        agent = sam.wait_agent()
        assert agent.answered, agent
        assert agent.headers.get("X-Queue") == "sales"
        assert agent.headers.get("X-Call-Id") == call_id
        result = caller.wait()
        assert result.call_id == call_id
        assert abs(dominant_frequency(tmp_path / "sam-heard.wav") - 440) <= 20
        assert abs(dominant_frequency(tmp_path / "caller-heard.wav") - 1000) <= 20

        record = holder.wait_call(call_id, lambda r: r["ended_at"] is not None)
        assert (record["queue"], record["agent"], record["outcome"]) == (
            "sales",
            "sam",
            "completed",
        )
        events = _events(redis_server.url, call_id)
        moved = [data for kind, data in events if kind == "call.moved"]
        assert len(moved) == 1
        assert (moved[0]["from_queue"], moved[0]["to_queue"]) == ("billing", "sales")
        assert moved[0]["by"].startswith("supervisor-")  # an unnamed token: its fingerprint
        audit = [data for kind, data in events if kind == "supervisor.action"]
        assert [a["action"] for a in audit] == ["move-call"]
        # Already connected now: a second move is refused and says why.
        status, body = other.api(
            f"/api/calls/{call_id}/queue", SUPERVISOR_TOKEN, "POST", {"queue": "billing"}
        )
        assert (status, body["error_id"]) == (409, "call-ended")


def test_a_priority_raise_makes_a_later_caller_go_first(
    service: Service, tmp_path: Path, redis_server: RedisServer
) -> None:
    first = _caller(service, "1", duration=25.0)
    (first_id,) = _waiting(service, "billing")
    later = _caller(service, "1", duration=25.0)
    ids = _waiting(service, "billing", count=2)
    later_id = next(i for i in ids if i != first_id)
    assert ids == [first_id, later_id]  # same priority (3): first come, first served
    status, body = service.api(
        f"/api/calls/{later_id}/priority", SUPERVISOR_TOKEN, "POST", {"priority": 9}
    )
    assert (status, body["position"], body["previous_priority"]) == (200, 1, 3), body
    assert _waiting(service, "billing", count=2) == [later_id, first_id]

    ann = _agent_phone(service, "ann", tmp_path, answer_after=0.5)
    _login(service, "ann")  # ann frees up: she takes the most urgent call
    agent = ann.wait_agent()
    assert agent.answered and agent.headers.get("X-Call-Id") == later_id
    record = service.wait_call(later_id, lambda r: r["agent"] == "ann")
    assert record["priority"] == 9
    assert service.call(first_id)["agent"] is None
    changed = [d for k, d in _events(redis_server.url, later_id) if k == "call.priority_changed"]
    assert [(d["from_priority"], d["to_priority"]) for d in changed] == [(3, 9)]
    first.kill()
    later.kill()


def test_a_skill_edit_makes_an_agent_eligible_at_once_and_survives_a_restart(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    data_dir = tmp_path / "data"
    with running_service(
        tmp_path, redis_url=redis_server.url, settings=SETTINGS, data_dir=data_dir
    ) as service:
        ann = _agent_phone(service, "ann", tmp_path, answer_after=0.5)
        _login(service, "ann")
        caller = _caller(service, "2", duration=20.0)  # support: needs tech 2, ann has none
        (call_id,) = _waiting(service, "support")
        status, body = service.api(f"/api/routing/explain?call={call_id}")
        assert status == 200 and body["chosen"] is None, body
        status, body = service.api(
            "/api/agents/ann",
            SUPERVISOR_TOKEN,
            "PATCH",
            {"skills": {"tech": 3}, "queues": ["billing", "support"]},
        )
        assert status == 200, body
        assert body["edited"] == ["skills", "queues"]
        agent = ann.wait_agent()  # rung at once, without a restart
        assert agent.answered and agent.headers.get("X-Queue") == "support"
        assert agent.ringing_seconds < 8
        record = service.wait_call(call_id, lambda r: r["agent"] == "ann")
        assert record["queue"] == "support"
        caller.kill()
    with running_service(
        tmp_path, redis_url=redis_server.url, settings=SETTINGS, data_dir=data_dir
    ) as service:
        status, body = service.api("/api/agents/ann")
        assert status == 200, body
        assert body["skills"] == {"billing": 5, "tech": 3}
        assert body["queues"] == ["billing", "support"]
        assert body["edited"] == ["skills", "queues"]
        status, body = service.api("/api/agents/ann/edits", method="DELETE")
        assert (status, body["skills"], body["queues"]) == (200, {"billing": 5}, ["billing"])


def test_after_a_move_the_new_queue_announces_and_ends_the_wait(
    service: Service, redis_server: RedisServer
) -> None:
    caller = _caller(service, "1", duration=30.0)  # billing: no announcements, no max wait
    (call_id,) = _waiting(service, "billing")
    time.sleep(1.0)  # it has waited a while in billing: vip's clock starts at the move
    status, body = service.api(f"/api/calls/{call_id}/queue", method="POST", body={"queue": "vip"})
    assert status == 200, body
    record = service.wait_call(call_id, lambda r: r["ended_at"] is not None, timeout=30)
    assert (record["queue"], record["outcome"], record["ended_by"]) == (
        "vip",
        "completed",
        "system",
    )
    caller.kill()
    events = _events(redis_server.url, call_id)
    kinds = [kind for kind, _ in events]
    assert (
        kinds.index("call.moved") < kinds.index("call.announced") < kinds.index("call.left_queue")
    ), kinds
    announced = next(d for k, d in events if k == "call.announced")
    assert announced["queue"] == "vip" and "number 1" in announced["text"]
    left = next(d for k, d in events if k == "call.left_queue")
    assert (left["queue"], left["reason"]) == ("vip", "max-wait")
    moved_at = _event_time(redis_server.url, call_id, "call.moved")
    left_at = _event_time(redis_server.url, call_id, "call.left_queue")
    assert 3.5 <= left_at - moved_at <= 12  # vip's 4 s, counted from the move


def test_logging_out_an_agent_rung_from_another_controller_stops_the_phone(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    shared = {**SETTINGS, "history": {"url": f"sqlite:///{tmp_path / 'history.sqlite3'}"}}
    with ExitStack() as stack:
        holder = stack.enter_context(
            running_service(tmp_path / "a", redis_url=redis_server.url, settings=shared)
        )
        other = stack.enter_context(
            running_service(tmp_path / "b", redis_url=redis_server.url, settings=shared)
        )
        sam = _agent_phone(holder, "sam", tmp_path, answer_after=None)  # lets it ring
        _login(other, "sam")
        caller = _caller(holder, "1", duration=25.0)
        (call_id,) = _waiting(other, "billing")
        status, body = other.api(
            f"/api/calls/{call_id}/queue", SUPERVISOR_TOKEN, "POST", {"queue": "sales"}
        )
        assert status == 200, body

        def sam_status() -> str:
            status, body = other.api("/api/agents/sam")
            assert status == 200, body
            return str(body["status"])

        _until(lambda: sam_status() == "reserved", what="sam's phone ringing")
        status, body = other.api("/api/agents/sam/logout", SUPERVISOR_TOKEN, "POST", {})
        assert (status, body["status"]) == (200, "offline"), body
        rang = sam.wait_agent()
        assert rang.incoming and not rang.answered
        assert rang.status_code == 487  # withdrawn by the holder, on the other's word
        assert rang.ringing_seconds < 7  # well before the 8 s ring timeout

        # The caller is back in sales, at its head, for the next agent of the queue.
        assert _waiting(other, "sales") == [call_id]
        events = _events(redis_server.url, call_id)
        assert [k for k, _ in events].count("call.offered") == 1
        audit = [d["action"] for k, d in _events(redis_server.url, "") if k == "supervisor.action"]
        assert audit == ["login", "logout"]  # the test's admin token logged sam in
        caller.kill()


def _event_time(url: str, call_id: str, kind: str) -> float:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries = client.xrange("cc:events") or []
    finally:
        client.close()
    for _, fields in entries:
        if fields and fields.get("call_id") == call_id and fields.get("type") == kind:
            return float(str(fields["at"]))
    raise AssertionError(f"no {kind} event for {call_id}")
