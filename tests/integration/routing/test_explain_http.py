"""``/api/routing/explain`` and ``/api/queues`` over real HTTP against a real Redis.

The store is filled directly (agents with chosen states, waiting calls with chosen arrival
times) and the endpoint's clock is fixed, so every number in the explanation is known.
"""

from __future__ import annotations

from typing import Any

from callcenter.domain.routing import (
    Answer,
    EndWrapUp,
    EscalationStep,
    Hangup,
    Pause,
    Queue,
    Status,
)
from tests.integration.agents.kit import in_task
from tests.integration.routing.kit import AGENT, routing_api
from tests.integration.store.test_routing_kit import T0, agent, call, record, seat
from tests.support.redis_server import RedisServer

SUPPORT = Queue("support", skills={"billing": 3}, escalation=[EscalationStep(60, lower_by=1)])
SALES = Queue("sales", weight=2.0)


def _by_id(rows: list[dict[str, Any]], key: str = "agent_id") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


async def _staff(api: Any) -> None:
    """ann and eve fit (ann idle longer), bob's billing is too low, cat is offline, dan's
    phone is not registered, fay serves another queue."""
    skilled = {"billing": 5}
    await seat(
        api.state,
        [
            (agent("ann", skilled), record("ann", idle_since=T0 - 100)),
            (agent("eve", skilled), record("eve", idle_since=T0 - 50)),
            (agent("bob", {"billing": 2}), record("bob", idle_since=T0 - 200)),
            (agent("cat", skilled), record("cat", Status.OFFLINE, since=T0 - 10)),
            (agent("dan", skilled), record("dan", idle_since=T0 - 300)),
            (agent("fay", skilled, ["sales"]), record("fay")),
        ],
    )
    await api.state.set_registered("dan", None)


@in_task
async def test_a_waiting_call_says_why_each_agent_was_not_chosen(
    redis_server: RedisServer,
) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        await _staff(api)
        await api.state.enqueue(call("c1", priority=4, entered_at=T0))
        api.clock.now = T0 + 30
        status, body = await api.get("/api/routing/explain?call=c1")
        assert status == 200, body
        assert body["state"] == "waiting"
        assert (body["queue"], body["priority"], body["position"]) == ("support", 4, 1)
        assert body["waited_seconds"] == 30
        assert body["strategy"] == "longest-idle"
        assert body["requirements"] == {
            "levels": {"billing": 3},
            "base": {"billing": 3},
            "step": 0,
            "steps": 1,
            "next_step_at": T0 + 60,
        }
        assert body["chosen"] == "ann"
        assert body["summary"] == "call c1 goes to agent ann by longest-idle"
        # chosen first, then the other eligible agents best first, then the rest by id
        assert [row["agent_id"] for row in body["agents"]] == ["ann", "eve", "bob", "cat", "dan"]
        rows = _by_id(body["agents"])
        assert rows["ann"]["chosen"] and rows["ann"]["eligible"] and rows["ann"]["reasons"] == []
        assert rows["eve"]["eligible"] and not rows["eve"]["chosen"]
        (lost,) = rows["eve"]["reasons"]
        assert (lost["code"], lost["winner"]) == ("lost-on-score", "ann")
        assert "ann idle since" in lost["message"]
        assert rows["bob"]["reasons"] == [
            {
                "code": "missing-skill",
                "skill": "billing",
                "has": 2,
                "needs": 3,
                "message": "skill billing too low (has 2, needs 3)",
            }
        ]
        assert rows["cat"]["reasons"] == [
            {
                "code": "not-available",
                "status": "offline",
                "since": T0 - 10,
                "message": f"not available (offline since {T0 - 10:g})",
            }
        ]
        assert (rows["cat"]["status"], rows["cat"]["since"]) == ("offline", T0 - 10)
        assert rows["dan"]["registered"] is False
        assert rows["dan"]["reasons"] == [
            {"code": "not-registered", "message": "no live SIP registration"}
        ]
        assert "fay" not in rows  # not a member: only listed when every agent is asked for

        status, body = await api.get("/api/routing/explain?call=c1&all=1")
        assert status == 200
        fay = _by_id(body["agents"])["fay"]
        assert [r["code"] for r in fay["reasons"]] == ["not-in-queue"]
        assert fay["reasons"][0]["message"] == "not a member of queue support"


@in_task
async def test_escalation_and_declines_change_the_explanation(redis_server: RedisServer) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        await _staff(api)
        await api.state.enqueue(call("c1", priority=4, entered_at=T0))
        await api.state.enqueue(call("c2", entered_at=T0 + 10, declined={"ann": T0 + 20}))
        api.clock.now = T0 + 30
        status, body = await api.get("/api/routing/explain?call=c2")
        assert (status, body["position"], body["chosen"]) == (200, 2, "eve")
        ann = _by_id(body["agents"])["ann"]
        assert ann["reasons"] == [
            {
                "code": "declined",
                "declined_at": T0 + 20,
                "retry_at": T0 + 50,
                "message": f"declined this call at {T0 + 20:g}, skipped until {T0 + 50:g}",
            }
        ]
        api.clock.now = T0 + 70  # c1 passed its 60 s step: billing 3 relaxed to 2
        status, body = await api.get("/api/routing/explain?call=c1")
        assert body["requirements"]["levels"] == {"billing": 2}
        assert body["requirements"]["step"] == 1
        assert body["requirements"]["next_step_at"] is None
        assert body["chosen"] == "bob"  # now eligible, and idle longest


@in_task
async def test_a_call_offered_or_connected_names_its_agent(redis_server: RedisServer) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        await _staff(api)
        await api.state.enqueue(call("c1", entered_at=T0))
        match = await api.state.match_call("c1", T0 + 1)
        assert match is not None and match.agent_id == "ann"
        api.clock.now = T0 + 2
        status, body = await api.get("/api/routing/explain?call=c1")
        assert status == 200
        assert (body["state"], body["agent_id"], body["queue"]) == ("ringing", "ann", "support")
        assert body["summary"].startswith("call c1 is ringing agent ann")
        await api.state.apply("ann", Answer("c1"), T0 + 3)
        status, body = await api.get("/api/routing/explain?call=c1")
        assert (status, body["state"], body["agent_id"]) == (200, "connected", "ann")
        assert body["summary"] == "call c1 is connected to agent ann"
        await api.state.apply("ann", Hangup("c1", 5), T0 + 10)
        status, body = await api.get("/api/routing/explain?call=c1")
        assert (status, body["state"], body["agent_id"]) == (200, "ended", "ann")
        await api.state.apply("ann", EndWrapUp(), T0 + 15)
        status, body = await api.get("/api/routing/explain?call=c1")
        assert (status, body["error_id"]) == (404, "call-not-found")


@in_task
async def test_an_agent_across_two_queues_takes_priority_before_wait(
    redis_server: RedisServer,
) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        both = agent("ann", {"billing": 5}, ["support", "sales"])
        await seat(api.state, [(both, record("ann"))])
        await api.state.enqueue(call("s1", "support", entered_at=T0 - 600))  # longest wait
        await api.state.enqueue(call("s9", "support", entered_at=T0, skills={"billing": 9}))
        await api.state.enqueue(call("l1", "sales", priority=2, entered_at=T0 + 20))
        await api.state.enqueue(call("l2", "sales", entered_at=T0 - 400))
        api.clock.now = T0 + 30
        status, body = await api.get("/api/routing/explain?agent=ann")
        assert status == 200, body
        assert (body["status"], body["registered"], body["current_call"]) == (
            "available",
            True,
            None,
        )
        assert body["queues"] == [
            {"name": "support", "weight": 1.0, "strategy": "longest-idle", "waiting": 2},
            {"name": "sales", "weight": 2.0, "strategy": "longest-idle", "waiting": 2},
        ]
        assert body["would_take"] == "l1"
        assert body["summary"] == "agent ann takes call l1"
        assert body["because"] == "priority 2 beats 0 of call l2 (priority always beats wait)"
        assert [row["call_id"] for row in body["calls"]] == ["l1", "l2", "s1", "s9"]
        rows = _by_id(body["calls"], "call_id")
        assert rows["l1"]["chosen"] and rows["l1"]["reasons"] == []
        assert rows["l2"]["weighted_wait"] == 430 * 2
        (lost,) = rows["s1"]["reasons"]
        assert (lost["code"], lost["decided_by"], lost["winner"]) == (
            "lost-to-call",
            "priority",
            "l1",
        )
        assert rows["s9"]["eligible"] is False
        assert [r["code"] for r in rows["s9"]["reasons"]] == ["missing-skill"]

        await api.state.remove("l1")  # among equal priorities, weighted wait decides
        status, body = await api.get("/api/routing/explain?agent=ann")
        assert body["would_take"] == "l2"  # waited 430 s x weight 2 beats 630 s x weight 1
        assert body["because"] == "same priority; weighted wait 860 s beats 630 s of call s1"

        await api.state.apply("ann", Pause("lunch"), T0 + 31)
        status, body = await api.get("/api/routing/explain?agent=ann")
        assert (body["status"], body["reason"], body["would_take"]) == ("paused", "lunch", None)
        assert [r["code"] for r in body["agent_reasons"]] == ["not-available"]
        assert body["summary"].startswith("agent ann takes no call: not available (paused")


@in_task
async def test_queues_list_waiting_calls_and_agents(redis_server: RedisServer) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        await _staff(api)
        await api.state.enqueue(call("c1", entered_at=T0))
        await api.state.enqueue(call("c2", priority=7, entered_at=T0 + 10))
        api.clock.now = T0 + 40
        status, body = await api.get("/api/queues")
        assert status == 200, body
        assert body["count"] == 2
        sales, support = body["queues"]
        assert (sales["name"], sales["waiting"], sales["calls"]) == ("sales", 0, [])
        assert sales["agents"]["members"] == 1
        assert support["waiting"] == 2
        assert support["longest_wait_seconds"] == 40
        assert [(c["call_id"], c["position"], c["priority"]) for c in support["calls"]] == [
            ("c2", 1, 7),  # higher priority first
            ("c1", 2, 0),
        ]
        assert support["calls"][0]["waited_seconds"] == 30
        # five members; cat is logged out; dan is logged in but unregistered
        agents = support["agents"]
        assert (agents["members"], agents["staffed"], agents["available"]) == (5, 4, 3)
        assert agents["by_status"]["available"] == 4 and agents["by_status"]["offline"] == 1
        status, body = await api.get("/api/queues?limit=1")
        assert [c["call_id"] for c in body["queues"][1]["calls"]] == ["c2"]
        assert body["queues"][1]["waiting"] == 2


@in_task
async def test_errors_are_json_with_an_error_id(redis_server: RedisServer) -> None:
    async with routing_api(redis_server, [SUPPORT, SALES]) as api:
        await _staff(api)
        for path, status, error_id in (
            ("/api/routing/explain", 400, "explain-needs-call-or-agent"),
            ("/api/routing/explain?call=", 400, "explain-needs-call-or-agent"),
            ("/api/routing/explain?call=c1&agent=ann", 400, "explain-needs-call-or-agent"),
            ("/api/routing/explain?call=nope", 404, "call-not-found"),
            ("/api/routing/explain?agent=zed", 404, "agent-not-found"),
            ("/api/routing/explain/more?agent=ann", 404, "not-found"),
            ("/api/queues?limit=x", 400, "bad-request"),
            ("/api/queues/support", 404, "not-found"),
        ):
            got, body = await api.get(path)
            assert (got, body["error_id"], body["status"]) == (status, error_id, status), path
        for path in ("/api/routing/explain?agent=ann", "/api/queues"):
            got, body = await api.get(path, token=AGENT)  # even ann's own token: supervisors
            assert (got, body["error_id"]) == (403, "forbidden"), path
            got, body = await api.get(path, token=None)
            assert (got, body["error_id"]) == (401, "unauthorized"), path
