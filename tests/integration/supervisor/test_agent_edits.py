"""Runtime edits of agents' skills and queues: in routing at once, kept over a restart, reset."""

from __future__ import annotations

from callcenter.domain.routing import WaitingCall
from tests.integration.agents.kit import T0, agents_env, in_task
from tests.integration.supervisor.kit import ANN_TOKEN, roster, supervisor_api
from tests.support.redis_server import RedisServer


@in_task
async def test_a_skill_edit_makes_an_available_agent_eligible_at_once(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        await a.env.service.login("ann")
        await a.env.state.set_registered("ann", T0 + 3600)
        await a.queue_call("needs-tech", "sales")
        assert await a.env.state.match_call("needs-tech", T0) is None  # ann serves billing only
        a.env.heard.available.clear()
        status, body = await a.call(
            "/api/agents/ann",
            method="PATCH",
            body={"skills": {"tech": 4}, "queues": ["billing", "sales"]},
        )
        assert status == 200, body
        assert body["skills"] == {"billing": 5, "tech": 4}
        assert body["queues"] == ["billing", "sales"]
        assert body["edited"] == ["skills", "queues"]
        assert a.env.heard.available == ["ann"]  # routing is asked to match her now
        match = await a.env.state.match_agent("ann", T0)
        assert match is not None and match.call_id == "needs-tech"
        (audit,) = await a.audit()
        assert audit["action"] == "edit-agent" and audit["target"] == "ann"
        assert audit["details"] == {"skills": {"tech": 4}, "queues": ["billing", "sales"]}


@in_task
async def test_edits_survive_a_restart_and_a_reset_goes_back_to_the_config(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        await a.env.service.login("bob")
        status, _ = await a.call("/api/agents/bob", method="PATCH", body={"skills": {"tech": 9}})
        assert status == 200
    # A restart re-reads the configuration (bob: tech 3) but keeps the supervisor's edit.
    async with agents_env(redis_server.url, roster()) as env:
        bob = await env.service.get("bob")
        assert dict(bob.skills) == {"tech": 9} and bob.edited == ("skills",)
        assert bob.status.value == "available"  # and the live state, as before
        snapshot = (await env.state.snapshots(["bob"], T0))[0]
        assert dict(snapshot.agent.skills) == {"tech": 9}  # what the Lua match reads
    async with supervisor_api(redis_server) as a:
        status, body = await a.call("/api/agents/bob/edits")
        assert status == 200
        assert body == {
            "id": "bob",
            "edits": {"skills": {"tech": 9}, "queues": None},
            "configured": {"skills": {"tech": 3}, "queues": ["sales"]},
        }
        status, body = await a.call("/api/agents/bob/edits", method="DELETE")
        assert (status, body["skills"], body["edited"]) == (200, {"tech": 3}, [])
        assert [e["action"] for e in await a.audit()] == ["edit-agent", "reset-agent"]
    async with agents_env(redis_server.url, roster()) as env:
        assert dict((await env.service.get("bob")).skills) == {"tech": 3}


@in_task
async def test_queue_edits_move_the_agent_between_queues_for_routing(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        await a.env.service.login("ann")
        await a.env.state.set_registered("ann", T0 + 3600)
        status, _ = await a.call("/api/agents/ann", method="PATCH", body={"queues": []})
        assert status == 200
        assert await a.env.state.members("billing") == []
        await a.env.state.enqueue(WaitingCall("c1", "billing", 0, T0, {}))
        assert await a.env.state.match_call("c1", T0) is None
        status, _ = await a.call("/api/agents/ann", method="PATCH", body={"queues": None})
        assert status == 200
        assert await a.env.state.members("billing") == ["ann"]
        match = await a.env.state.match_call("c1", T0)
        assert match is not None and match.agent_id == "ann"


@in_task
async def test_bad_edits_are_refused_precisely_and_change_nothing(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        for raw, status, error_id in (
            (b'{"skills": {"knitting": 2}}', 422, "unknown-skill"),
            (b'{"queues": ["nowhere"]}', 422, "unknown-queue"),
            (b'{"skills": {"tech": 11}}', 400, "invalid-skill-level"),
            (b'{"name": "Zed"}', 400, "unknown-field"),
            (b"{}", 400, "nothing-to-change"),
            (b"nope", 400, "bad-request"),
        ):
            got, body = await a.call("/api/agents/ann", method="PATCH", body=raw)
            assert (got, body["error_id"]) == (status, error_id), raw
        got, body = await a.call("/api/agents/zed", method="PATCH", body={"skills": {"tech": 1}})
        assert (got, body["error_id"]) == (404, "agent-not-found")
        ann = await a.env.service.get("ann")
        assert dict(ann.skills) == {"billing": 5} and ann.edited == ()
        assert await a.audit() == []


@in_task
async def test_state_changes_are_audited_for_supervisors_not_for_the_agent_itself(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        assert (await a.call("/api/agents/ann/login", ANN_TOKEN, "POST"))[0] == 200
        assert (await a.call("/api/agents/ann/pause", method="POST", body={"reason": "coach"}))[
            0
        ] == 200
        assert (await a.call("/api/agents/ann/ready", method="POST"))[0] == 200
        assert (await a.call("/api/agents/ann/logout", method="POST"))[0] == 200
        audit = await a.audit()
        assert [(e["action"], e["target"], e["supervisor"]) for e in audit] == [
            ("pause", "ann", "Sue"),
            ("ready", "ann", "Sue"),
            ("logout", "ann", "Sue"),
        ]
        assert audit[0]["details"] == {"status": "paused", "reason": "coach"}
        assert audit[2]["details"] == {"status": "offline"}
