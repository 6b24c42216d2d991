"""Two `serve` processes on one Redis route as one contact centre.

An agent freed on one controller may be matched to a caller held by the other: the match is
handed over and the agent's phone rings with that caller. One agent never gets two calls,
whichever controller the callers reached.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"
SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},
    "queues": {"billing": {"ring_timeout_seconds": 5, "wrap_up_seconds": 1}, "support": {}},
    "agents": [
        {"id": "ann", "password": PASSWORD, "skills": {"billing": 5}, "queues": ["billing"]}
    ],
}


@pytest.fixture
def controllers(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Service, Service]]:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with ExitStack() as stack:
        first = stack.enter_context(
            running_service(tmp_path / "a", redis_url=redis_server.url, settings=SETTINGS)
        )
        second = stack.enter_context(
            running_service(tmp_path / "b", redis_url=redis_server.url, settings=SETTINGS)
        )
        yield first, second


def _ann_phone(front: Service, tmp_path: Path, name: str) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{front.sip_uri_host}",
        username="ann",
        password=PASSWORD,
        answer_after=0.5,
        duration=3,
        wait=40,
        record_to=tmp_path / f"{name}.wav",
    )
    assert phone.wait_ready().get("registered")
    return phone


def _caller(service: Service) -> RunningPhone:
    return start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "1", "rfc4733")], duration=30.0
    )


def _queued(service: Service, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Calls waiting in a queue (records are shared: either controller lists them all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = service.api("/api/calls?limit=10")
        assert status == 200, body
        waiting = [c for c in body["calls"] if c["outcome"] == "queued"]
        if len(waiting) >= count:
            return list(waiting)
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} calls queued")


@pytest.fixture
def phones() -> Iterator[list[RunningPhone]]:
    started: list[RunningPhone] = []
    yield started
    for phone in started:
        phone.kill()


def _login(service: Service) -> None:
    status, body = service.api("/api/agents/ann/login", method="POST", body={})
    assert status == 200, body


def test_an_agent_freed_on_one_controller_takes_a_caller_held_by_the_other(
    controllers: tuple[Service, Service], tmp_path: Path, phones: list[RunningPhone]
) -> None:
    first, second = controllers
    phone = _ann_phone(first, tmp_path, "ann")
    phones.append(_caller(second))  # the caller reaches the second controller
    [waiting] = _queued(second)
    _login(first)  # ann frees up on the first controller, which matches the second's caller
    agent = phone.wait_agent()
    assert agent.answered, agent
    assert agent.headers.get("X-Call-Id") == waiting["call_id"]
    record = second.wait_call(waiting["call_id"], lambda r: r["agent"] == "ann")
    assert record["queue"] == "billing"


def test_one_agent_never_gets_two_calls_from_two_controllers(
    controllers: tuple[Service, Service], tmp_path: Path, phones: list[RunningPhone]
) -> None:
    first, second = controllers
    _login(first)  # available, but no phone yet: not registered, so not offered anything
    phones.extend([_caller(first), _caller(second)])
    waiting = _queued(first, count=2)
    phone = _ann_phone(second, tmp_path, "ann-1")  # registering makes ann reachable: one match
    agent = phone.wait_agent()
    assert agent.answered
    taken = agent.headers["X-Call-Id"]
    assert taken in {c["call_id"] for c in waiting}
    [other] = [c["call_id"] for c in waiting if c["call_id"] != taken]
    assert first.call(other)["outcome"] == "queued"  # still waiting while ann talked
    # After the first call and its wrap-up, ann's phone takes the other caller.
    second_phone = _ann_phone(first, tmp_path, "ann-2")
    assert second_phone.wait_agent().headers.get("X-Call-Id") == other
    assert first.call(other)["agent"] == "ann"
