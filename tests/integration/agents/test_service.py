"""AgentsService on a real Redis: commands, listeners, restarts, registrations."""

from __future__ import annotations

import pytest

from callcenter.agents.errors import (
    AgentNotFoundError,
    AgentTokenError,
    AgentTransitionError,
    InvalidPauseReasonError,
)
from callcenter.domain.routing import (
    Agent,
    AgentStateChanged,
    CallReturned,
    Reserve,
    Status,
    WaitingCall,
)
from callcenter.store import keys
from callcenter.store.registrations import Binding
from tests.integration.agents.kit import ANN, T0, Clock, agents_env, in_task, roster
from tests.support.redis_server import RedisServer


def _binding(aor: str, expires_at: float) -> Binding:
    return Binding(aor, f"sip:{aor}@192.0.2.1", expires_at, "cid", 1, "udp", "192.0.2.1", 5060)


@in_task
async def test_new_agents_start_offline_and_unregistered(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        views = await env.service.list_agents()
        assert [(v.id, v.status, v.registered) for v in views] == [
            ("ann", Status.OFFLINE, False),
            ("bob", Status.OFFLINE, False),
        ]
        ann = views[0]
        assert (ann.name, ann.sip_username, dict(ann.skills), list(ann.queues)) == (
            "Ann",
            "ann-phone",
            {"billing": 5},
            ["billing"],
        )
        assert (ann.since, ann.calls_taken, ann.talk_seconds) == (T0, 0, 0.0)


@in_task
async def test_login_pause_ready_logout_with_listeners(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        view = await env.service.login("ann")
        assert view.status is Status.AVAILABLE
        assert env.heard.available == ["ann"]
        [changed] = env.heard.events
        assert changed == AgentStateChanged("ann", Status.OFFLINE, Status.AVAILABLE, T0, None, None)
        env.clock.now += 30
        view = await env.service.pause("ann", "  lunch ")
        assert (view.status, view.reason, view.since) == (Status.PAUSED, "lunch", T0 + 30)
        assert env.heard.available == ["ann"]  # a pause makes no one available
        env.clock.now += 12.5
        assert (await env.service.get("ann")).seconds_in_state == 12.5
        assert (await env.service.ready("ann")).status is Status.AVAILABLE
        assert env.heard.available == ["ann", "ann"]
        assert (await env.service.logout("ann")).status is Status.OFFLINE
        assert [e.new for e in env.heard.events if isinstance(e, AgentStateChanged)] == [
            Status.AVAILABLE,
            Status.PAUSED,
            Status.AVAILABLE,
            Status.OFFLINE,
        ]
        # routing's available set follows
        assert await env.link.client.zscore(keys.queue_available("billing"), "ann") is None


@in_task
async def test_refusals_carry_the_domain_slug_and_unknown_agents_are_404(
    redis_server: RedisServer,
) -> None:
    async with agents_env(redis_server.url) as env:
        with pytest.raises(AgentTransitionError) as refused:
            await env.service.ready("ann")
        assert (refused.value.error_id, refused.value.status) == ("agent-offline", 409)
        await env.service.login("ann")
        with pytest.raises(AgentTransitionError) as again:
            await env.service.login("ann")
        assert again.value.error_id == "agent-logged-in"
        assert "already logged in" in again.value.message
        with pytest.raises(AgentNotFoundError) as unknown:
            await env.service.login("zed")
        assert (unknown.value.error_id, unknown.value.status) == ("agent-not-found", 404)
        with pytest.raises(AgentNotFoundError):
            await env.service.get("zed")
        for reason in ("", "   ", "x" * 65, "tab\there"):
            with pytest.raises(InvalidPauseReasonError):
                await env.service.pause("ann", reason)
        assert (await env.service.get("ann")).status is Status.AVAILABLE


@in_task
async def test_logout_while_ringing_returns_the_call_through_on_events(
    redis_server: RedisServer,
) -> None:
    async with agents_env(redis_server.url) as env:
        await env.service.login("ann")
        await env.state.enqueue(WaitingCall("c1", "billing", 0, T0 - 5))
        await env.state.apply("ann", Reserve("c1", "billing"), T0 + 1)
        env.heard.events.clear()
        env.clock.now += 2
        view = await env.service.logout("ann")
        assert view.status is Status.OFFLINE
        returned = [e for e in env.heard.events if isinstance(e, CallReturned)]
        assert [(r.call_id, r.reason) for r in returned] == [("c1", "logged-out")]
        assert await env.state.position("c1") == 1  # back at the head of its queue


@in_task
async def test_state_survives_a_restart_and_config_changes_apply(
    redis_server: RedisServer,
) -> None:
    async with agents_env(redis_server.url) as env:
        await env.service.login("ann")
        await env.service.pause("ann", "training")
        await env.service.login("bob")
    moved = Agent("ann", "Ann B.", "ann-phone", {"billing": 7}, ("billing", "sales"))
    async with agents_env(redis_server.url, roster(moved), Clock(T0 + 600)) as env:
        ann = await env.service.get("ann")
        assert (ann.status, ann.reason, ann.since) == (Status.PAUSED, "training", T0)
        assert ann.seconds_in_state == 600
        assert (ann.name, dict(ann.skills), list(ann.queues)) == (
            "Ann B.",
            {"billing": 7},
            ["billing", "sales"],
        )
        # bob is no longer configured: removed, so routing cannot offer him calls
        assert [v.id for v in await env.service.list_agents()] == ["ann"]
        assert "bob" not in await env.state.load_agents()
        assert await env.link.client.zscore(keys.queue_available("billing"), "bob") is None


@in_task
async def test_an_unconfigured_agent_holding_a_call_is_kept(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        await env.service.login("bob")
        await env.state.enqueue(WaitingCall("c1", "billing", 0, T0))
        await env.state.apply("bob", Reserve("c1", "billing"), T0 + 1)
    async with agents_env(redis_server.url, roster(ANN)) as env:
        assert (await env.state.load_agents())["bob"].state.status is Status.RESERVED


@in_task
async def test_bound_tokens_must_name_configured_agents(redis_server: RedisServer) -> None:
    with pytest.raises(AgentTokenError, match="'zed'"):
        async with agents_env(redis_server.url, token_agents=["ann", "zed"]):
            pass
    async with agents_env(redis_server.url, token_agents=["ann", "bob"]) as env:
        assert len(await env.service.list_agents()) == 2


@in_task
async def test_registrations_follow_the_registrar(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        service, state = env.service, env.state
        await env.bindings.update("ann-phone", lambda _: [_binding("ann-phone", T0 + 60)], T0)
        await service.on_bindings("ann-phone", T0 + 60)
        assert (await service.get("ann")).registered is True
        [snapshot] = await state.snapshots(["ann"], T0 + 59)
        assert snapshot.registered
        [lapsed] = await state.snapshots(["ann"], T0 + 61)
        assert not lapsed.registered  # routing compares the expiry with now: no refresh needed
        assert [v.registered for v in await service.list_agents()] == [True, False]
        assert env.heard.available == []  # registered but offline: nothing to match
        await service.login("ann")
        await service.on_bindings("ann-phone", T0 + 120)
        assert env.heard.available == ["ann", "ann"]  # reachable again: routing may match
        await env.bindings.update("ann-phone", lambda _: [], T0)
        await service.on_bindings("ann-phone", None)
        assert (await service.get("ann")).registered is False
        [gone] = await state.snapshots(["ann"], T0)
        assert not gone.registered
        await service.on_bindings("stranger", T0 + 60)  # not an agent: ignored


@in_task
async def test_start_syncs_registrations_from_the_bindings(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        await env.bindings.update("bob", lambda _: [_binding("bob", T0 + 300)], T0)
    async with agents_env(redis_server.url) as env:
        [bob] = await env.state.snapshots(["bob"], T0 + 1)
        assert bob.registered


@in_task
async def test_an_agent_lost_from_redis_is_restored_offline(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:
        await env.state.remove_agent("ann")
        assert (await env.service.login("ann")).status is Status.AVAILABLE


@in_task
async def test_a_failing_listener_does_not_undo_the_change(redis_server: RedisServer) -> None:
    async with agents_env(redis_server.url) as env:

        def broken(agent_id: str) -> None:
            raise RuntimeError("routing fell over")

        env.service.on_available = broken
        assert (await env.service.login("ann")).status is Status.AVAILABLE
        assert (await env.service.get("ann")).status is Status.AVAILABLE
