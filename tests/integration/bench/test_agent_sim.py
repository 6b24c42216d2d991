"""The agent simulator of ``bench bridged`` against the real service: it registers by digest
auth, answers the INVITE the worker sends for a queued caller (the call is bridged and ends
by the caller's BYE), and a CANCEL when the caller hangs up while the agent still rings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bridged import AgentSimProcess, bridged_settings, call_records, log_in_all
from bench.ivr import run_sipp
from tests.support.service import running_service

pytestmark = pytest.mark.e2e

AGENT = "agent001"


def test_registers_answers_and_is_bridged(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=bridged_settings([AGENT], workers=1)) as service:
        sim = AgentSimProcess(service, 1, answer_after=0.2, rtp="silence")
        try:
            ready = sim.wait_ready()
            assert ready["registered"] == 1
            log_in_all(service, [AGENT])  # raises unless registered and available
            run = run_sipp(service, tmp_path / "sipp", 1, 1, 3000, 1)
            assert (run.successful, run.failed) == (1, 0)
            (record,) = call_records(service, 10)
        finally:
            stats = sim.stop()
    assert record["agent"] == AGENT and record["queue"] == "support", record
    assert record["outcome"] == "completed" and record["ended_by"] == "caller", record
    assert 0.2 <= record["wait"] < 3, record
    assert stats["invites"] == stats["answered"] == stats["confirmed"] == stats["byes"] == 1
    assert stats["double_booked"] == 0 and stats["rtp_received"] > 0 and stats["rtp_sent"] > 0


def test_a_caller_hanging_up_while_the_agent_rings_cancels_the_invite(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=bridged_settings([AGENT], workers=1)) as service:
        sim = AgentSimProcess(service, 1, answer_after=30, rtp="none")
        try:
            sim.wait_ready()
            log_in_all(service, [AGENT])
            # The caller is queued once the welcome prompt is over (~3 s after answer), then
            # hangs up 5 s after its digit while the agent still rings.
            run = run_sipp(service, tmp_path / "sipp", 1, 1, 5000, 1)
            assert (run.successful, run.failed) == (1, 0)
            (record,) = call_records(service, 10)
        finally:
            stats = sim.stop()
    assert record["agent"] is None and record["outcome"] == "abandoned", record
    assert stats["invites"] == stats["cancels"] == 1 and stats["answered"] == 0, stats
