"""``/api/calls/{id}/queue`` and ``/priority`` on a real Redis: atomic, precise errors, audited."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from callcenter.domain.routing import Reserve
from callcenter.store.routing.waiting import Found
from tests.integration.agents.kit import T0, in_task
from tests.integration.supervisor.kit import ADMIN, supervisor_api
from tests.support.redis_server import RedisServer


@in_task
async def test_a_moved_call_keeps_its_entry_time_and_priority(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        await a.queue_call("early", "sales", at=T0 - 60)
        await a.queue_call("moved", "billing", priority=2, at=T0 - 30)
        await a.queue_call("late", "sales", at=T0 - 10)
        status, body = await a.call(
            "/api/calls/moved/queue", method="POST", body={"queue": "sales"}
        )
        assert status == 200, body
        assert body["queue"] == "sales" and body["moved_from"] == "billing"
        assert body["priority"] == 2 and body["entered_at"] == T0 - 30
        assert body["position"] == 1  # priority 2 goes before both priority-0 callers
        assert [c.call_id for c in await a.env.state.waiting("sales")] == ["moved", "early", "late"]
        assert await a.env.state.waiting("billing") == []
        assert a.notices[-1].kind == "moved"
        assert (a.notices[-1].before, a.notices[-1].after, a.notices[-1].by) == (
            "billing",
            "sales",
            "Sue",
        )
        (audit,) = await a.audit()
        assert audit == {
            "call_id": "moved",
            "supervisor": "Sue",
            "role": "supervisor",
            "action": "move-call",
            "target": "moved",
            "details": {"from_queue": "billing", "to_queue": "sales"},
        }
        # Moving it where it already is changes nothing and audits nothing.
        status, body = await a.call(
            "/api/calls/moved/queue", method="POST", body={"queue": "sales"}
        )
        assert (status, body["queue"]) == (200, "sales")
        assert len(await a.audit()) == 1 and len(a.notices) == 1


@in_task
async def test_a_priority_raise_puts_a_later_caller_first(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        await a.queue_call("first", at=T0 - 60)
        await a.queue_call("second", at=T0 - 5)
        status, body = await a.call("/api/calls/second/priority", ADMIN, "POST", {"priority": 7})
        assert status == 200, body
        assert (body["priority"], body["previous_priority"], body["position"]) == (7, 0, 1)
        assert [c.call_id for c in await a.env.state.waiting("billing")] == ["second", "first"]
        assert (await a.env.state.get_call("second")) is not None
        (audit,) = await a.audit()
        assert audit["action"] == "set-call-priority" and audit["role"] == "admin"
        assert audit["supervisor"].startswith("admin-")
        assert audit["details"] == {"queue": "billing", "from_priority": 0, "to_priority": 7}
        # Lowering it again puts it back behind the earlier caller: entry time was kept.
        await a.call("/api/calls/second/priority", method="POST", body={"priority": 0})
        assert [c.call_id for c in await a.env.state.waiting("billing")] == ["first", "second"]


@in_task
async def test_calls_that_are_not_waiting_are_refused_with_where_they_are(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        await a.env.service.login("ann")
        await a.queue_call("ringing")
        await a.env.state.apply("ann", Reserve("ringing", "billing"), T0)
        await a.save_record("talking", outcome="connected", agent="bob")
        await a.save_record("over", outcome="completed", ended_at=T0)
        await a.save_record("in-ivr")
        cases = {
            "ringing": "call-ringing",
            "talking": "call-connected",
            "over": "call-ended",
            "in-ivr": "call-not-queued",
        }
        for call_id, error_id in cases.items():
            for action, body in (("queue", {"queue": "sales"}), ("priority", {"priority": 3})):
                status, reply = await a.call(
                    f"/api/calls/{call_id}/{action}", method="POST", body=body
                )
                assert (status, reply["error_id"]) == (409, error_id), (call_id, action, reply)
        status, reply = await a.call(
            "/api/calls/ringing/queue", method="POST", body={"queue": "sales"}
        )
        assert "ann" in reply["message"]
        status, reply = await a.call(
            "/api/calls/nobody/queue", method="POST", body={"queue": "sales"}
        )
        assert (status, reply["error_id"]) == (404, "call-not-found")
        # The ringing call was not touched.
        assert (await a.env.state.get_call("ringing")) is not None
        assert await a.env.state.position("ringing") is None
        assert await a.audit() == [] and a.notices == []


@in_task
async def test_bad_bodies_get_precise_errors_and_change_nothing(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        await a.queue_call("c1", priority=1)
        for action, raw, status, error_id in (
            ("queue", b'{"queue": "nowhere"}', 422, "unknown-queue"),
            ("queue", b'{"queue": 5}', 400, "invalid-queue"),
            ("queue", b'{"queue": "sales", "priority": 1}', 400, "bad-request"),
            ("queue", b"not json", 400, "bad-request"),
            ("queue", b"", 400, "bad-request"),
            ("priority", b'{"priority": 1000}', 400, "invalid-priority"),
            ("priority", b'{"priority": -1}', 400, "invalid-priority"),
            ("priority", b'{"priority": "high"}', 400, "invalid-priority"),
            ("priority", b"[]", 400, "bad-request"),
            ("dance", b"{}", 404, "not-found"),
        ):
            got, body = await a.call(f"/api/calls/c1/{action}", method="POST", body=raw)
            assert (got, body["error_id"], body["status"]) == (status, error_id, status), raw
            assert body["message"]
        status, body = await a.call("/api/calls/c1/queue")  # GET
        assert (status, body["error_id"]) == (405, "method-not-allowed")
        call = await a.env.state.get_call("c1")
        assert call is not None and (call.queue, call.priority) == ("billing", 1)


@in_task
async def test_concurrent_changes_of_one_call_are_never_lost(redis_server: RedisServer) -> None:
    async with supervisor_api(redis_server) as a:
        for n in range(20):
            call_id = f"c{n}"
            await a.queue_call(call_id, at=T0 - n)
            moved, raised = await asyncio.gather(
                a.store.change(call_id, lambda c: replace(c, queue="sales")),
                a.store.change(call_id, lambda c: replace(c, priority=9)),
            )
            assert {moved.found, raised.found} == {Found.CHANGED}
            call = await a.env.state.get_call(call_id)
            assert call is not None and (call.queue, call.priority) == ("sales", 9)
            assert call.entered_at == T0 - n
            assert await a.env.state.position(call_id) is not None
        assert await a.env.state.waiting("billing") == []
        assert len(await a.env.state.waiting("sales")) == 20
