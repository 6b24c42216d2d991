"""A caller chooses a queue, waits, and the right agent answers on a registered softphone.

Everything is real: the service, SIP over loopback, RTP. The caller is a pjsua2 phone playing a
440 Hz tone; agents are pjsua2 phones that REGISTER with digest auth and play 1000 Hz, so the
recordings prove two-way audio through the media worker's bridge.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import dominant_frequency, tone
from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.service import Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"


def _agent(agent_id: str, queues: list[str], skills: dict[str, int]) -> dict[str, Any]:
    return {"id": agent_id, "name": agent_id.title(), "password": PASSWORD, "skills": skills,
            "queues": queues}  # fmt: skip


SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},
    "skills": ["billing", "tech"],
    "queues": {
        "billing": {"skills": {"billing": 3}, "ring_timeout_seconds": 3, "wrap_up_seconds": 1},
        "support": {"skills": {"tech": 2}, "ring_timeout_seconds": 3, "wrap_up_seconds": 1},
    },
    "agents": [
        _agent("ann", ["billing"], {"billing": 5}),
        _agent("bob", ["billing"], {"billing": 4}),
        _agent("tess", ["support"], {"tech": 5}),
    ],
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path, settings=SETTINGS) as running:
        yield running


def _agent_phone(service: Service, name: str, tmp_path: Path, **options: Any) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username=name,
        password=PASSWORD,
        play=tone(tmp_path / f"{name}-1000.wav", 1000),
        record_to=tmp_path / f"{name}-heard.wav",
        wait=40,
        duration=6,
        **options,
    )
    ready = phone.wait_ready()
    assert ready.get("registered"), ready
    return phone


def _login(service: Service, agent_id: str) -> None:
    status, body = service.api(f"/api/agents/{agent_id}/login", method="POST", body={})
    assert status == 200, body


def _agent_state(service: Service, agent_id: str) -> dict[str, Any]:
    status, body = service.api(f"/api/agents/{agent_id}")
    assert status == 200, body
    return dict(body)


def _until(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_the_skilled_agent_answers_and_both_sides_hear_each_other(
    service: Service, tmp_path: Path
) -> None:
    ann = _agent_phone(service, "ann", tmp_path, answer_after=1.0)
    tess = _agent_phone(service, "tess", tmp_path, answer_after=1.0)  # support only: never rung
    for agent_id in ("ann", "tess"):
        _login(service, agent_id)
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}",
        dtmf=[(0.5, "1", "rfc4733")],  # billing
        play=tone(tmp_path / "caller-440.wav", 440),
        loop=True,
        record_to=tmp_path / "caller-heard.wav",
        duration=12.0,
    )
    result = caller.wait()
    assert result.answered and result.call_id is not None, result

    agent = ann.wait_agent()
    assert agent.answered, agent
    assert agent.from_user == "phone"  # the caller's number as the test phone sends it
    assert agent.from_display.startswith("billing:")
    assert agent.headers.get("X-Queue") == "billing"
    assert abs(dominant_frequency(tmp_path / "ann-heard.wav") - 440) <= 20  # caller → agent
    assert abs(dominant_frequency(tmp_path / "caller-heard.wav") - 1000) <= 20  # agent → caller

    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["agent"] == "ann"
    assert record["queue"] == "billing"
    assert record["outcome"] == "completed"
    assert record["offers"] == 1
    assert tess.wait_agent().incoming is False  # no skill, no offer
    # After the call: wrap-up (1 s), then available again.
    _until(lambda: _agent_state(service, "ann")["status"] == "available")


def test_no_answer_pauses_the_agent_and_the_next_one_takes_the_call(
    service: Service, tmp_path: Path
) -> None:
    ann = _agent_phone(service, "ann", tmp_path, answer_after=None)  # rings out
    _login(service, "ann")
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=20.0
    )
    _until(lambda: _agent_state(service, "ann")["status"] == "paused", timeout=20)
    assert _agent_state(service, "ann")["reason"] == "no-answer"
    bob = _agent_phone(service, "bob", tmp_path, answer_after=0.5)
    _login(service, "bob")  # bob frees up: the call, back at the head of its queue, is his
    result = caller.wait()
    assert result.call_id is not None
    assert ann.wait_agent().answered is False
    assert bob.wait_agent().answered is True
    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["agent"] == "bob"
    assert record["offers"] == 2


def test_logging_out_while_ringing_stops_the_phone_and_the_call_moves_on(
    service: Service, tmp_path: Path
) -> None:
    ann = _agent_phone(service, "ann", tmp_path, answer_after=None)
    _login(service, "ann")
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=15.0
    )
    _until(lambda: _agent_state(service, "ann")["status"] == "reserved")
    status, body = service.api("/api/agents/ann/logout", method="POST", body={})
    assert status == 200 and body["status"] == "offline", body
    bob = _agent_phone(service, "bob", tmp_path, answer_after=0.5)
    _login(service, "bob")
    result = caller.wait()
    assert result.call_id is not None
    rang = ann.wait_agent()
    assert rang.incoming and not rang.answered
    assert rang.status_code == 487  # the offer was withdrawn: the phone stopped ringing
    assert bob.wait_agent().answered
    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["agent"] == "bob"


def test_a_caller_hanging_up_during_the_offer_stops_the_phone_without_penalty(
    service: Service, tmp_path: Path
) -> None:
    ann = _agent_phone(service, "ann", tmp_path, answer_after=None)
    _login(service, "ann")
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=3.0
    )
    # The caller is queued ~1.5 s after answering and hangs up at 3 s: ann's phone has rung
    # ~1.5 s of its 3 s ring timeout.
    result = caller.wait()
    rang = ann.wait_agent()
    assert rang.incoming and not rang.answered
    assert rang.status_code == 487  # the phone stopped ringing
    assert result.call_id is not None
    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["outcome"] == "abandoned"
    assert record["agent"] is None
    # Not penalised: available again, not paused "no-answer".
    _until(lambda: _agent_state(service, "ann")["status"] == "available")


def test_an_agent_whose_phone_is_gone_is_paused_and_skipped(
    service: Service, tmp_path: Path
) -> None:
    ann = _agent_phone(service, "ann", tmp_path, answer_after=0.5)
    ann.kill()  # registered, then the phone vanished: INVITEs to it go unanswered
    _login(service, "ann")
    bob = _agent_phone(service, "bob", tmp_path, answer_after=0.5)
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=20.0
    )
    _until(lambda: _agent_state(service, "ann")["status"] == "paused", timeout=25)
    _login(service, "bob")
    assert bob.wait_agent().answered
    result = caller.wait()
    assert result.call_id is not None
    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["agent"] == "bob"
