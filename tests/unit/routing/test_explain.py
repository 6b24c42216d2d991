"""Decisions explain themselves: why this agent, why still waiting, why this call."""

from __future__ import annotations

import json

from callcenter.domain.routing import (
    EscalationStep,
    LostOnScore,
    LostToCall,
    MissingSkill,
    NotAvailable,
    NotInQueue,
    NotRegistered,
    Queue,
    Status,
    Strategy,
    choose_agent,
    choose_call,
)
from tests.unit.routing.kit import T0, call, make_agent, snap

BILLING = Queue(
    "billing", skills={"billing": 3}, escalation=[EscalationStep(120, min_levels={"billing": 2})]
)


def test_why_this_agent_and_why_not_the_others() -> None:
    agents = [
        snap(make_agent("winner", {"billing": 5}, ["billing"]), idle_since=T0 - 300),
        snap(make_agent("runner", {"billing": 9}, ["billing"]), idle_since=T0 - 100),
        snap(make_agent("low", {"billing": 2}, ["billing"])),
        snap(make_agent("outsider", {"billing": 9}, ["sales"])),
        snap(make_agent("lunch", {"billing": 9}, ["billing"]), Status.PAUSED, since=T0 - 60),
        snap(make_agent("ghost", {}, ["billing"]), registered=False),
    ]
    decision = choose_agent(call("c1", "billing", entered_at=T0 - 30), BILLING, agents, T0)
    assert decision.agent_id == "winner"
    assert [row.agent_id for row in decision.considered] == [
        "winner",
        "runner",
        "ghost",
        "low",
        "lunch",
        "outsider",
    ]
    why = {row.agent_id: row.reasons for row in decision.considered}
    assert why["winner"] == ()
    (lost,) = why["runner"]
    assert isinstance(lost, LostOnScore)
    assert lost.winner == "winner"
    assert (
        lost.message
        == f"lost on longest-idle: idle since {T0 - 100:g}, winner idle since {T0 - 300:g}"
    )
    assert why["low"] == (MissingSkill("billing", 2, 3),)
    assert why["low"][0].message == "skill billing too low (has 2, needs 3)"
    assert why["outsider"] == (NotInQueue("billing"),)
    assert why["lunch"] == (NotAvailable(Status.PAUSED, T0 - 60),)
    assert why["ghost"] == (NotRegistered(), MissingSkill("billing", 0, 3))
    assert why["ghost"][1].message == "missing skill billing (needs 3)"
    assert decision.summary == "call c1 goes to agent winner by longest-idle"


def test_explanation_is_json_with_codes_and_messages() -> None:
    agents = [
        snap(make_agent("a1", {"billing": 4}, ["billing"])),
        snap(make_agent("a2", {"billing": 1}, ["billing"])),
    ]
    body = choose_agent(call("c1", "billing", entered_at=T0 - 130), BILLING, agents, T0).to_dict()
    parsed = json.loads(json.dumps(body))
    assert parsed["agent_id"] == "a1"
    assert parsed["strategy"] == "longest-idle"
    assert parsed["requirements"]["levels"] == {"billing": 2}  # escalated after 120 s
    assert parsed["requirements"]["step"] == 1
    assert parsed["considered"][0]["key"] == {
        "primary": T0,
        "idle_since": T0,
        "agent_id": "a1",
    }
    assert parsed["considered"][1]["reasons"] == [
        {
            "skill": "billing",
            "has": 1,
            "needs": 2,
            "code": "missing-skill",
            "message": "skill billing too low (has 1, needs 2)",
        }
    ]


def test_why_still_waiting_when_nobody_is_eligible() -> None:
    agents = [snap(make_agent("a1", {"billing": 9}, ["billing"]), Status.ON_CALL)]
    decision = choose_agent(call("c1", "billing"), BILLING, agents, T0)
    assert decision.agent_id is None
    assert decision.summary == "call c1 waits: none of 1 agents is eligible"
    assert decision.to_dict()["summary"] == decision.summary
    empty = choose_agent(call("c1", "billing"), BILLING, [], T0)
    assert empty.summary == "call c1 waits: no agent serves queue billing"


def test_tie_explanations_name_the_deciding_key() -> None:
    queue = Queue("support", skills={"billing": 1}, strategy=Strategy.MOST_SKILLED)
    agents = [
        snap(make_agent("a", {"billing": 5}), idle_since=T0 - 10),
        snap(make_agent("b", {"billing": 5}), idle_since=T0 - 50),
        snap(make_agent("c", {"billing": 5}), idle_since=T0 - 50),
    ]
    decision = choose_agent(call("c1"), queue, agents, T0)
    assert decision.agent_id == "b"
    messages = {row.agent_id: [r.message for r in row.reasons] for row in decision.considered}
    assert messages["a"] == [
        f"tied on most-skilled; b idle longer (since {T0 - 50:g}, this agent since {T0 - 10:g})"
    ]
    assert messages["c"] == ["tied on most-skilled and idle time; b sorts first by id"]


def test_why_this_call_for_the_agent() -> None:
    queues = {"support": Queue("support"), "vip": Queue("vip", weight=2.0), "billing": BILLING}
    agent = snap(make_agent("a1", {"billing": 1}, ["support", "vip", "billing"]))
    calls = [
        call("winner", "vip", priority=1, entered_at=T0 - 40),
        call("by-wait", "support", priority=1, entered_at=T0 - 50),
        call("by-priority", "support", priority=0, entered_at=T0 - 900),
        call("no-skill", "billing", priority=7, entered_at=T0 - 10),
    ]
    decision = choose_call(agent, calls, queues, T0)
    assert decision.call_id == "winner"
    assert decision.summary == "agent a1 takes call winner"
    assert [row.call_id for row in decision.considered] == [
        "winner",
        "by-wait",
        "by-priority",
        "no-skill",
    ]
    why = {row.call_id: row.reasons for row in decision.considered}
    assert why["by-wait"] == (LostToCall("winner", "weighted-wait", 1, 1, 50.0, 80.0),)
    assert why["by-wait"][0].message == (
        "same priority; weighted wait 50 s below 80 s of call winner"
    )
    assert why["by-priority"][0].message == "priority 0 below 1 of call winner"
    assert why["no-skill"] == (MissingSkill("billing", 1, 3),)
    parsed = json.loads(json.dumps(decision.to_dict()))
    assert parsed["considered"][1]["reasons"][0]["code"] == "lost-to-call"
    assert parsed["considered"][0]["weight"] == 2.0


def test_why_an_agent_takes_no_call() -> None:
    agent = snap(make_agent("a1"), Status.PAUSED, since=T0 - 5, registered=False)
    decision = choose_call(agent, [call("c1")], {"support": Queue("support")}, T0)
    assert decision.call_id is None
    assert decision.summary == (
        f"agent a1 takes no call: no live SIP registration; not available (paused since {T0 - 5:g})"
    )
    idle = choose_call(snap(make_agent("a1")), [], {"support": Queue("support")}, T0)
    assert idle.summary == "agent a1 takes no call: no waiting call it is eligible for"
