"""Monitoring with two `serve` processes on one Redis: the supervisor's phone may reach the
controller that does not hold the conversation; it is redirected (``302``) to the one that
does, and hears the call as usual.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_monitor import (
    AGENT_HZ,
    AGENT_PASSWORD,
    CALLER_HZ,
    FLOW,
    LISTEN_HZ,
    SUPERVISOR_PASSWORD,
    _log_in,
    _status,
    _supervisor,
    _until,
)
from tests.support.audio import tone, tone_seconds
from tests.support.phone import start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import running_service

pytestmark = pytest.mark.e2e


def test_a_supervisor_on_the_other_controller_is_redirected_to_the_call(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "monitor.yaml").write_text(FLOW)
    settings: dict[str, Any] = {
        "flows_dir": str(flows),
        "numbers": {"100": "monitor.yaml"},
        "queues": {"billing": {"ring_timeout_seconds": 10, "wrap_up_seconds": 1}},
        "agents": [{"id": "ann", "password": AGENT_PASSWORD, "queues": ["billing"]}],
        "supervisors": [{"id": "sue", "password": SUPERVISOR_PASSWORD}],
        "media": {"hold_music": str(tone(tmp_path / "silence.wav", 0, seconds=1.0))},
    }
    with ExitStack() as stack:
        services = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            services.append(stack.enter_context(
                running_service(tmp_path / name, redis_url=redis_server.url, settings=settings)
            ))  # fmt: skip
        holder, other = services
        ann = start_agent_phone(
            register=f"sip:{holder.sip_uri_host}",
            username="ann",
            password=AGENT_PASSWORD,
            play=tone(tmp_path / "agent.wav", AGENT_HZ),
            answer_after=0.5,
            wait=40,
            duration=60,
        )
        stack.callback(ann.kill)
        assert ann.wait_ready().get("registered")
        _log_in(holder, "ann")
        caller = start_phone(
            f"sip:100@{holder.sip_uri_host}",
            play=tone(tmp_path / "caller.wav", CALLER_HZ),
            loop=True,
            duration=14.0,
        )
        stack.callback(caller.kill)
        _until(lambda: _status(holder, "ann") == "on-call")
        # The supervisor's phone talks to the other controller's front.
        sue = _supervisor(other, tmp_path, "*50ann", LISTEN_HZ, 60.0)
        stack.callback(sue.kill)
        heard = sue.wait()
        caller.wait()
    assert heard.answered and heard.hangup_by == "remote", heard  # ended with the conversation
    recording = tmp_path / f"sup-{LISTEN_HZ}-heard.wav"
    assert tone_seconds(recording, CALLER_HZ) >= 2.0
    assert tone_seconds(recording, AGENT_HZ) >= 2.0
