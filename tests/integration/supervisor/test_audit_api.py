"""``GET /api/audit``: supervisors' recent actions for admins, newest first, filtered."""

from __future__ import annotations

from tests.integration.agents.kit import T0, in_task
from tests.integration.supervisor.kit import ADMIN, ANN_TOKEN, SUPERVISOR, supervisor_api
from tests.support.redis_server import RedisServer


@in_task
async def test_admins_read_who_did_what_newest_first(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        await a.queue_call("c1")
        await a.call("/api/agents/ann/login", ANN_TOKEN, "POST")  # the agent itself: not audited
        await a.call("/api/agents/ann/pause", SUPERVISOR, "POST", {"reason": "coaching"})
        a.env.clock.now = T0 + 5
        await a.call("/api/calls/c1/priority", ADMIN, "POST", {"priority": 4})
        await a.env.link.drained()
        status, body = await a.call("/api/audit", ADMIN)
        assert status == 200, body
        assert body["count"] == 2
        newest, oldest = body["actions"]
        assert newest == {
            "at": T0 + 5,
            "call_id": "c1",
            "supervisor": newest["supervisor"],
            "role": "admin",
            "action": "set-call-priority",
            "target": "c1",
            "details": {"queue": "billing", "from_priority": 0, "to_priority": 4},
        }
        assert (oldest["supervisor"], oldest["action"], oldest["target"]) == ("Sue", "pause", "ann")
        status, body = await a.call("/api/audit?supervisor=Sue", ADMIN)
        assert [e["action"] for e in body["actions"]] == ["pause"]
        status, body = await a.call("/api/audit?action=set-call-priority&limit=1", ADMIN)
        assert [e["target"] for e in body["actions"]] == ["c1"]
        status, body = await a.call("/api/audit?target=nobody", ADMIN)
        assert (status, body["count"]) == (200, 0)


@in_task
async def test_the_audit_is_for_admins_and_checks_its_limit(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        for token, status in ((None, 401), (ANN_TOKEN, 403), (SUPERVISOR, 403), (ADMIN, 200)):
            assert (await a.call("/api/audit", token))[0] == status, token
        for limit in ("0", "1001", "ten", "-1"):
            status, body = await a.call(f"/api/audit?limit={limit}", ADMIN)
            assert (status, body["error_id"]) == (400, "bad-request"), limit
            assert "limit" in body["message"]
