"""The call summary from hand-made event sequences (the shapes the service emits)."""

from __future__ import annotations

from typing import Any

from callcenter.domain.history import CallEvent, CallSummary, QueueAttempt, summarize


class Script:
    """Builds one call's events with increasing times."""

    def __init__(self, call_id: str = "c1") -> None:
        self.call_id = call_id
        self.events: list[CallEvent] = []

    def at(self, t: float, type_: str, call_id: str | None = None, **data: Any) -> Script:
        cid = self.call_id if call_id is None else call_id
        self.events.append(CallEvent(f"e{len(self.events)}", type_, cid, t, data))
        return self

    def arrive(self, t: float = 100.0) -> Script:
        self.at(t, "call.arrived", caller="+441", caller_name="Bob", did="100", transport="udp")
        return self.at(t + 0.5, "call.answered", flow="support.yaml")

    def summary(self) -> CallSummary:
        return summarize(self.call_id, self.events)


def test_ivr_only_call_completed_by_the_flow() -> None:
    s = Script().arrive()
    s.at(101, "ivr.node", node="hours", kind="condition")
    s.at(101, "ivr.hours", node="hours", open=False)
    s.at(101, "ivr.node", node="closed", kind="say")
    s.at(104, "ivr.node", node="bye", kind="hangup")
    s.at(104, "ivr.hangup", reason="closed")
    s.at(104.2, "call.ended", outcome="completed", by="system", node="bye", reason="200")
    summary = s.summary()
    assert summary.outcome == "completed"
    assert summary.ended_by == "system"
    assert summary.ivr_path == ("hours", "closed", "bye")
    assert summary.after_hours is True
    assert summary.queue is None and summary.attempts == ()
    assert summary.wait_seconds is None and summary.talk_seconds is None
    assert summary.duration == 4.2
    assert [leg.kind for leg in summary.legs] == ["caller"]
    assert summary.legs[0].result == "completed"


def test_abandoned_in_queue() -> None:
    s = Script().arrive()
    s.at(101, "ivr.node", node="menu", kind="menu")
    s.at(103, "ivr.digit", digit="1", method="rfc4733")
    s.at(103, "ivr.choice", node="menu", digit="1", choice="billing")
    s.at(103, "ivr.node", node="billing", kind="queue")
    s.at(103, "call.queued", queue="billing", priority=2, skills={})
    s.at(133, "call.ended", outcome="abandoned", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert summary.outcome == "abandoned"
    assert summary.ended_by == "caller"
    assert summary.digits == ("1",)
    assert summary.choices == ("billing",)
    assert summary.priority == 2
    assert summary.wait_seconds == 30.0
    assert summary.attempts == (QueueAttempt("billing", 103, 133, "abandoned", None, 30.0),)
    assert summary.agent is None and summary.after_hours is False
