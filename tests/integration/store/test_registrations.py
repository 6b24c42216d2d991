"""Registration bindings in a real redis-server: layout, expiry, concurrent writers."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.store import keys
from callcenter.store.link import RedisLink, RedisUnavailableError
from callcenter.store.registrations import Binding, Change, RedisBindingStore
from tests.support.redis_server import RedisServer


def _binding(contact: str, expires_at: float, aor: str = "agent1", cseq: int = 1) -> Binding:
    return Binding(
        aor=aor,
        contact=contact,
        expires_at=expires_at,
        call_id="cid",
        cseq=cseq,
        transport="udp",
        source_host="127.0.0.1",
        source_port=40000,
        user_agent="phone",
        registered_at=expires_at - 60,
    )


def _add(*bindings: Binding) -> Change:
    def change(existing: list[Binding]) -> list[Binding]:
        by_contact = {b.contact: b for b in existing}
        by_contact.update({b.contact: b for b in bindings})
        return list(by_contact.values())

    return change


@pytest_twisted.ensureDeferred
async def test_bindings_layout_expiry_and_registered_set(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link = RedisLink(redis_server.url)
        await link.connect()
        store = RedisBindingStore(link)
        now = time.time()
        a = _binding("sip:agent1@10.0.0.1:5062", now + 60)
        b = _binding("sip:agent1@10.0.0.2", now + 2)
        stored = await store.update("agent1", _add(a, b), now)
        assert sorted(x.contact for x in stored) == [a.contact, b.contact]
        current = await store.current("agent1", now)
        assert sorted(current, key=lambda x: x.contact) == sorted(stored, key=lambda x: x.contact)
        client = link.client
        raw = await client.hgetall(keys.registration("agent1"))
        assert set(raw) == {a.contact, b.contact}
        assert Binding.from_json("agent1", str(raw[a.contact])) == a
        ttl = await client.pttl(keys.registration("agent1"))
        assert 55_000 < ttl <= 60_000  # the hash lives as long as its latest binding
        assert await client.zscore(keys.REGISTERED, "agent1") == pytest.approx(a.expires_at)
        assert await store.registered(now) == ["agent1"]
        # b lapses: it is no longer returned, a still is.
        later = now + 3
        assert [x.contact for x in await store.current("agent1", later)] == [a.contact]
        # Removing the last binding removes the AOR everywhere.
        await store.update("agent1", lambda existing: [], later)
        assert await client.exists(keys.registration("agent1")) == 0
        assert await store.registered(later) == []
        # A lapsed AOR drops out of the registered set without any write.
        await store.update("agent2", _add(_binding("sip:x@h", now + 1, "agent2")), now)
        assert await store.registered(now) == ["agent2"]
        assert await store.registered(now + 1.5) == []
        await link.close()

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_concurrent_updates_of_one_aor_all_land(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        links = [RedisLink(redis_server.url) for _ in range(4)]
        for link in links:
            await link.connect()
        stores = [RedisBindingStore(link) for link in links]
        now = time.time()

        async def writer(n: int) -> None:
            for k in range(10):
                binding = _binding(f"sip:agent1@10.0.{n}.{k}", now + 100)
                await stores[n].update("agent1", _add(binding), now)
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(n) for n in range(4)))
        assert len(await stores[0].current("agent1", now)) == 40
        for link in links:
            await link.close()

    await as_deferred(scenario())


@pytest_twisted.ensureDeferred
async def test_redis_down_raises_unavailable(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link = RedisLink(redis_server.url)
        await link.connect()
        store = RedisBindingStore(link)
        redis_server.stop()
        with pytest.raises(RedisUnavailableError):
            await store.update("agent1", lambda e: e, time.time())
        with pytest.raises(RedisUnavailableError):
            await store.current("agent1", time.time())
        redis_server.start_again()
        assert await store.current("agent1", time.time()) == []
        await link.close()

    await as_deferred(scenario())
