"""The routing sweep tries waiting callers most urgent first (priority, then wait).

An agent freed while the sweep runs is claimed by the first call the sweep tries that it fits:
that must be the call that ranks first, not the one that happens to come first in the table of
sessions (a supervisor may have raised a later caller's priority).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest_twisted
from twisted.internet.task import Clock

from callcenter.domain.calls import CallRecord, Outcome
from callcenter.roster import Roster
from callcenter.routing.service import RoutingService
from callcenter.store.routing.views import Match


class RecordingState:
    def __init__(self) -> None:
        self.tried: list[str] = []

    async def match_call(self, call_id: str, now: float) -> Match | None:
        self.tried.append(call_id)
        return None

    async def load_agents(self) -> dict[str, Any]:
        return {}


def _session(call_id: str, priority: int, queued_at: float) -> Any:
    record = CallRecord(call_id, "+441", "", "100", arrived_at=queued_at - 5)
    record.queue, record.priority, record.queued_at = "billing", priority, queued_at
    record.outcome = Outcome.QUEUED
    return SimpleNamespace(call_id=call_id, record=record)


@pytest_twisted.ensureDeferred
async def test_the_sweep_tries_the_most_urgent_call_first() -> None:
    state = RecordingState()
    sessions = {
        s.call_id: s
        for s in (
            _session("first-come", 3, 100.0),
            _session("raised", 9, 130.0),
            _session("second-come", 3, 110.0),
            _session("low", 0, 90.0),
        )
    }
    routing = RoutingService(
        cast(Any, state),
        Roster({}, {}, {}),
        cast(Any, None),
        cast(Any, sessions),
        Clock(),
        lambda: 200.0,
        front_host="127.0.0.1:5060",
    )
    await routing._sweep_async()
    assert state.tried == ["raised", "first-come", "second-come", "low"]
