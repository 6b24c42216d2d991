"""Event log entries read into KPI facts: each call's and agent's story followed."""

from __future__ import annotations

from typing import Any

from callcenter.domain.events import LogEntry
from callcenter.domain.kpi import (
    Abandoned,
    AgentStatus,
    Answered,
    Fact,
    FactReader,
    Handled,
    LeftQueue,
    Queued,
)

T0 = 1_700_000_000.0
_ids = iter(range(1_000_000))


def entry(kind: str, call_id: str, at: float, **data: Any) -> LogEntry:
    return LogEntry(f"e{next(_ids)}", kind, call_id, at, data)


def read(entries: list[LogEntry]) -> list[Fact]:
    reader = FactReader()
    return [fact for e in entries for fact in reader.read(e)]


def agent_state(
    at: float, status: str, previous: str, call: str | None = None, queue: str | None = None
) -> LogEntry:
    return entry(
        "agent.state",
        call or "",
        at + 0.004,  # appended a few ms after the change: ``since`` is the instant
        agent="ann",
        status=status,
        previous=previous,
        reason=None,
        call=call,
        queue=queue,
        since=at,
    )


def test_an_answered_call_and_its_handling() -> None:
    facts = read(
        [
            entry("call.arrived", "c1", T0, caller="1001"),
            entry("call.queued", "c1", T0 + 2, queue="support", priority=0, skills={}),
            agent_state(T0 + 9, "reserved", "available", "c1", "support"),
            entry("call.offered", "c1", T0 + 9, agent="ann", queue="support"),
            agent_state(T0 + 14, "on-call", "reserved", "c1", "support"),
            entry("call.connected", "c1", T0 + 14, agent="ann", wait=12.0),
            agent_state(T0 + 74, "wrap-up", "on-call", "c1", "support"),
            entry("call.ended", "c1", T0 + 74, outcome="completed", by="caller", node="q"),
            agent_state(T0 + 84, "available", "wrap-up", "c1", "support"),
        ]
    )
    assert facts == [
        Queued("c1", "support", T0 + 2),
        AgentStatus("ann", "reserved", T0 + 9),
        AgentStatus("ann", "on-call", T0 + 14),
        Answered("c1", "support", T0 + 14, 12.0),
        AgentStatus("ann", "wrap-up", T0 + 74),
        AgentStatus("ann", "available", T0 + 84),
        # talk 74 - 14 = 60 s, wrap-up 84 - 74 = 10 s
        Handled("c1", "support", T0 + 84, 60.0, 10.0),
    ]


def test_no_wrap_up_and_a_pause_ending_wrap_up_both_close_the_handling() -> None:
    facts = read(
        [
            agent_state(T0, "on-call", "reserved", "c1", "sales"),
            agent_state(T0 + 30, "available", "on-call", "c1", "sales"),  # wrap-up 0
            agent_state(T0 + 40, "on-call", "reserved", "c2", "sales"),
            agent_state(T0 + 50, "wrap-up", "on-call", "c2", "sales"),
            agent_state(T0 + 53, "paused", "wrap-up", "c2", "sales"),
        ]
    )
    handled = [f for f in facts if isinstance(f, Handled)]
    assert handled == [
        Handled("c1", "sales", T0 + 30, 30.0, 0.0),
        Handled("c2", "sales", T0 + 53, 10.0, 3.0),
    ]


def test_a_conversation_begun_before_the_reading_is_not_counted() -> None:
    facts = read([agent_state(T0 + 50, "wrap-up", "on-call", "c0", "sales")])
    assert not [f for f in facts if isinstance(f, Handled)]


def test_abandons_while_waiting_and_while_ringing() -> None:
    facts = read(
        [
            entry("call.queued", "c1", T0, queue="support"),
            entry("call.ended", "c1", T0 + 7.5, outcome="abandoned", by="caller", node="q"),
            entry("call.queued", "c2", T0, queue="support"),
            entry("call.offered", "c2", T0 + 3, agent="ann", queue="support"),
            entry("call.ended", "c2", T0 + 4, outcome="abandoned", by="caller", node="q"),
            entry("call.ended", "c3", T0 + 5, outcome="abandoned", by="caller", node="menu"),
        ]
    )
    assert [f for f in facts if not isinstance(f, Queued)] == [
        Abandoned("c1", "support", T0 + 7.5, 7.5),
        Abandoned("c2", "support", T0 + 4, 4.0),
        # c3 hung up in the IVR, never queued: no queue abandon
    ]


def test_overflow_to_a_queue_keeps_counting_the_wait_from_the_first_entry() -> None:
    facts = read(
        [
            entry("call.queued", "c1", T0, queue="support"),
            entry(
                "call.overflowed",
                "c1",
                T0 + 60,
                from_queue="support",
                to_queue="sales",
                reason="max-wait",
                wait=60.0,
            ),
            entry("call.ended", "c1", T0 + 70, outcome="abandoned", by="caller", node="q"),
        ]
    )
    assert facts == [
        Queued("c1", "support", T0),
        LeftQueue("c1", "support", T0 + 60, 60.0, "max-wait"),
        Queued("c1", "sales", T0 + 60),
        Abandoned("c1", "sales", T0 + 70, 70.0),
    ]


def test_a_supervisor_move_counts_the_answer_in_the_new_queue() -> None:
    facts = read(
        [
            entry("call.queued", "c1", T0, queue="billing"),
            entry("call.moved", "c1", T0 + 20, from_queue="billing", to_queue="sales", by="Sue"),
            entry("call.connected", "c1", T0 + 30, agent="sam", wait=30.0),
        ]
    )
    assert facts == [
        Queued("c1", "billing", T0),
        LeftQueue("c1", "billing", T0 + 20, 20.0, "moved"),
        Queued("c1", "sales", T0 + 20),
        Answered("c1", "sales", T0 + 30, 30.0),
    ]


def test_leaving_with_the_message_is_not_an_abandon() -> None:
    facts = read(
        [
            entry("call.queued", "c1", T0, queue="support"),
            entry("call.left_queue", "c1", T0 + 30, queue="support", reason="max-wait", wait=30),
            entry("call.ended", "c1", T0 + 33, outcome="completed", by="system", node="q"),
        ]
    )
    assert facts == [
        Queued("c1", "support", T0),
        LeftQueue("c1", "support", T0 + 30, 30.0, "max-wait"),
    ]


def test_an_entry_read_twice_counts_once_and_bad_entries_are_skipped() -> None:
    reader = FactReader()
    queued = entry("call.queued", "c1", T0, queue="support")
    assert reader.read(queued) == [Queued("c1", "support", T0)]
    assert reader.read(queued) == []  # same id: a replay
    assert reader.read(entry("call.queued", "c2", T0, queue=None)) == []
    assert reader.read(entry("agent.state", "", T0, status="available")) == []  # no agent
    assert reader.read(entry("call.connected", "c9", T0, agent="ann", wait=1)) == []
