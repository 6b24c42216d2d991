"""The call summary from hand-made event sequences (the shapes the service emits)."""

from __future__ import annotations

from typing import Any

from callcenter.domain.events import LogEntry
from callcenter.domain.history import (
    CallSummary,
    QueueAttempt,
    history_call_id,
    summarize,
)


class Script:
    """Builds one call's events with increasing times."""

    def __init__(self, call_id: str = "c1") -> None:
        self.call_id = call_id
        self.events: list[LogEntry] = []

    def at(self, t: float, type_: str, call_id: str | None = None, **data: Any) -> Script:
        cid = self.call_id if call_id is None else call_id
        self.events.append(LogEntry(f"e{len(self.events)}", type_, cid, t, data))
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


def queued(s: Script, t: float, queue: str = "billing") -> Script:
    s.at(t, "ivr.node", node=queue, kind="queue")
    return s.at(t, "call.queued", queue=queue, priority=0, skills={})


def test_answered_with_hold_and_wrap_up_then_late_recording_and_disposition() -> None:
    s = queued(Script().arrive(), 101)
    s.at(101.1, "agent.state", call_id="c1", agent="ann", status="reserved", previous="available")
    s.at(101.1, "call.offered", agent="ann", queue="billing")
    s.at(104, "call.connected", agent="ann", wait=3.0)
    s.at(110, "call.hold", agent="ann")
    s.at(125, "call.unhold", agent="ann")
    s.at(130, "call.hold", agent="ann")
    s.at(135, "call.unhold", agent="ann")
    s.at(164, "call.ended", outcome="completed", by="agent", node="billing", reason="BYE")
    ended = s.summary()
    assert ended.finished and ended.wrap_up_seconds is None  # still wrapping up
    # wrap-up → available names the call in ``call`` while the agent is tied to none.
    s.at(164.01, "agent.state", agent="ann", status="wrap-up", previous="on-call", call="c1",
         since=164.0)  # fmt: skip
    s.at(174.5, "agent.state", call_id="", agent="ann", status="available", previous="wrap-up",
         call="c1")  # fmt: skip
    s.at(175, "recording.saved", path="/r/c1.wav", sha256="x", duration=60.0,
         url="/api/recordings/c1/audio")  # fmt: skip
    s.at(180, "call.disposition", agent="ann", disposition="resolved", notes="refund issued")
    summary = s.summary()
    assert summary.outcome == "completed" and summary.ended_by == "agent"
    assert summary.agent == "ann"
    assert summary.wait_seconds == 3.0
    assert summary.talk_seconds == 60.0
    assert summary.hold_seconds == 20.0
    assert summary.wrap_up_seconds == 10.5
    assert summary.recording_url == "/api/recordings/c1/audio"
    assert (summary.disposition, summary.notes) == ("resolved", "refund issued")
    assert summary.attempts == (QueueAttempt("billing", 101, 104, "answered", "ann", 3.0),)
    agent_leg = summary.legs[1]
    assert (agent_leg.kind, agent_leg.agent, agent_leg.started_at) == ("agent", "ann", 101.1)
    assert (agent_leg.answered_at, agent_leg.ended_at, agent_leg.result) == (104, 164, "completed")


def test_hold_still_on_when_the_call_ends_counts_until_the_end() -> None:
    s = queued(Script().arrive(), 101)
    s.at(102, "call.offered", agent="ann", queue="billing")
    s.at(103, "call.connected", agent="ann", wait=2.0)
    s.at(110, "call.hold", agent="ann")
    s.at(140, "call.ended", outcome="completed", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert summary.hold_seconds == 30.0 and summary.talk_seconds == 37.0
    assert summary.ended_by == "caller"


def test_overflowed_between_queues_keeps_the_whole_wait() -> None:
    s = queued(Script().arrive(), 101, "billing")
    s.at(131, "call.overflowed", from_queue="billing", to_queue="support", reason="max-wait",
         wait=30.0)  # fmt: skip
    s.at(132, "call.offered", agent="bea", queue="support")
    s.at(136, "call.connected", agent="bea", wait=35.0)
    s.at(200, "call.ended", outcome="completed", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert summary.queues == ("billing", "support")
    assert summary.queue == "support"
    assert summary.attempts == (
        QueueAttempt("billing", 101, 131, "overflowed", None, 30.0),
        QueueAttempt("support", 131, 136, "answered", "bea", 5.0),
    )
    assert summary.wait_seconds == 35.0
    assert summary.agent == "bea"


def test_overflow_into_a_flow_then_left_queue_message() -> None:
    s = queued(Script().arrive(), 101, "sales")
    s.at(111, "call.overflowed", from_queue="sales", to_flow="callback.yaml", reason="no-agents",
         wait=10.0)  # fmt: skip
    s.at(111, "ivr.node", node="offer", kind="menu")
    s.at(120, "call.ended", outcome="abandoned", by="caller", node="offer", reason="BYE")
    summary = s.summary()
    assert summary.attempts == (QueueAttempt("sales", 101, 111, "overflowed", None, 10.0),)
    assert summary.wait_seconds == 10.0
    assert summary.ivr_path[-1] == "offer"
    assert summary.outcome == "abandoned"


def test_rona_then_answered_by_a_second_agent() -> None:
    s = queued(Script().arrive(), 101)
    s.at(101.2, "call.offered", agent="ann", queue="billing")
    s.at(121.2, "call.no_answer", agent="ann", code=408, reason="ring timeout")
    s.at(121.3, "call.offered", agent="bob", queue="billing")
    s.at(122, "call.offer_failed", agent="bob", code=603, reason="Decline")
    s.at(122.1, "call.offered", agent="cat", queue="billing")
    s.at(125, "call.connected", agent="cat", wait=24.0)
    s.at(185, "call.ended", outcome="completed", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert summary.agent == "cat"
    assert summary.wait_seconds == 24.0
    agents = [(leg.agent, leg.result, leg.code) for leg in summary.legs[1:]]
    assert agents == [
        ("ann", "no-answer", 408),
        ("bob", "declined", 603),
        ("cat", "completed", None),
    ]
    assert summary.attempts[0].agent == "cat" and summary.attempts[0].result == "answered"


def test_caller_leaving_while_the_phone_rings_withdraws_the_agent_leg() -> None:
    s = queued(Script().arrive(), 101)
    s.at(102, "call.offered", agent="ann", queue="billing")
    s.at(105, "call.ended", outcome="abandoned", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert summary.legs[1].result == "cancelled" and summary.legs[1].ended_at == 105
    assert summary.attempts[0].result == "abandoned"
    assert summary.talk_seconds is None and summary.hold_seconds is None


def test_transferred_by_the_ivr() -> None:
    s = Script().arrive()
    s.at(101, "ivr.node", node="desk", kind="transfer")
    s.at(101, "call.transferring", target="1001")
    s.at(102, "call.transferred", target="1001", uri="sip:1001@h", status=200)
    s.at(102.5, "call.ended", outcome="transferred", by="caller", node="desk", reason="BYE")
    summary = s.summary()
    assert summary.outcome == "transferred"
    assert summary.ended_by == "caller"
    assert summary.end_reason == "BYE"


def test_failed_transfer_gives_its_reason_when_the_end_has_none() -> None:
    s = Script().arrive()
    s.at(101, "call.transferring", target="1001")
    s.at(101.5, "call.transfer_failed", target="1001", code=405, reason="Method Not Allowed")
    s.at(101.6, "call.ended", outcome="failed", by="system", node="desk")
    summary = s.summary()
    assert summary.outcome == "failed"
    assert summary.end_reason == "transfer failed: 405 Method Not Allowed"


def test_rejected_and_crashed_calls_are_finished_too() -> None:
    rejected = Script().arrive()
    rejected.at(100.1, "call.rejected", code=503, reason="no media capacity")
    summary = rejected.summary()
    assert summary.finished and summary.outcome == "rejected" and summary.ended_by == "system"
    assert summary.legs[0].code == 503
    crashed = queued(Script("c2").arrive(), 101)
    crashed.at(103, "call.failed", reason="media worker lost", node="billing")
    summary = crashed.summary()
    assert summary.outcome == "failed" and summary.end_reason == "media worker lost"
    assert summary.attempts[0].result == "failed"


def test_in_progress_outcomes() -> None:
    s = Script().arrive()
    assert s.summary().outcome == "in-progress" and not s.summary().finished
    queued(s, 101)
    assert s.summary().outcome == "queued"
    s.at(103, "call.connected", agent="ann", wait=2.0)
    assert s.summary().outcome == "connected"
    assert s.summary().legs[1].answered_at == 103  # connected without a seen offer


def test_an_agent_state_event_belongs_to_the_call_it_names() -> None:
    def event(call_id: str, **data: Any) -> LogEntry:
        return LogEntry("x", "agent.state", call_id, 1.0, data)

    assert history_call_id(event("", agent="ann", status="available", call="c9")) == "c9"
    assert history_call_id(event("c1", agent="ann", status="on-call", call="c1")) == "c1"
    assert history_call_id(event("", agent="ann", status="paused", call="")) == ""
    assert history_call_id(LogEntry("y", "call.ended", "c3", 1.0, {"call": "zz"})) == "c3"


def test_a_supervisor_move_and_priority_change_follow_the_call() -> None:
    s = Script().arrive()
    queued(s, 101)
    s.at(111, "call.priority_changed", queue="billing", from_priority=0, to_priority=7, by="Sue")
    s.at(121, "call.moved", from_queue="billing", to_queue="sales", by="Sue", wait=20.0)
    s.at(125, "call.offered", agent="sam", queue="sales")
    s.at(126, "call.connected", agent="sam", wait=25.0)
    s.at(140, "call.ended", outcome="completed", by="caller", node="billing", reason="BYE")
    summary = s.summary()
    assert (summary.queue, summary.priority, summary.agent) == ("sales", 7, "sam")
    assert summary.queues == ("billing", "sales")
    assert summary.wait_seconds == 25.0  # from the first queue: the move keeps the entry time
    assert [(a.queue, a.result) for a in summary.attempts] == [
        ("billing", "moved"),
        ("sales", "answered"),
    ]
