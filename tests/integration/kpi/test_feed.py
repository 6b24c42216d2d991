"""KpiFeed on a real Redis: today's log read, then followed; a Redis outage is a gap, not
stale figures, and nothing is lost or counted twice once Redis is back."""

from __future__ import annotations

import time

import pytest

from callcenter.domain.kpi import Window
from callcenter.kpi.feed import KpiFeed
from callcenter.store import keys
from callcenter.store.link import RedisLink
from tests.integration.agents.kit import in_task
from tests.integration.kpi.kit import add, new_book, until
from tests.support.redis_server import RedisServer


@in_task
async def test_the_feed_reads_today_then_follows_and_survives_an_outage(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    await link.connect()
    client = link.client
    now = time.time()
    # Before the feed starts: c1 answered after 12 s, c2 abandoned after 3 s (short).
    await add(client, "call.queued", "c1", now - 100, queue="support")
    await add(client, "call.connected", "c1", now - 88, agent="ann", wait=12.0)
    await add(client, "call.queued", "c2", now - 80, queue="support")
    await add(client, "call.ended", "c2", now - 77, outcome="abandoned", by="caller")
    # Occupancy per queue is over the members routing has (a supervisor moved ann out).
    await client.sadd(keys.queue_members("support"), "bob")
    for agent, status, previous, at in (
        ("ann", "available", "offline", now - 100),
        ("bob", "available", "offline", now - 100),
        ("bob", "on-call", "reserved", now - 50),
    ):
        data = {"agent": agent, "status": status, "previous": previous, "since": at}
        await add(client, "agent.state", "", at, call="x", queue="support", **data)
    feed = KpiFeed(client, new_book())
    feed.start()
    try:
        await until(lambda: feed.current)
        # After: c3 abandoned after 30 s.
        await add(client, "call.queued", "c3", now - 70, queue="support")
        await add(client, "call.ended", "c3", now - 40, outcome="abandoned", by="caller")

        await until(lambda: feed.book.queue_kpis("support", Window.HOUR, now).tally.abandoned == 2)
        t = feed.book.queue_kpis("support", Window.HOUR, now).tally
        assert (t.offered, t.answered, t.abandoned, t.short_abandons) == (3, 1, 2, 1)
        k = feed.book.queue_kpis("support", Window.HOUR, now)
        assert k.service_level == pytest.approx(1 / (1 + 2 - 1))  # 0.5
        assert k.asa_seconds == pytest.approx(12.0)
        assert feed.current
        await until(lambda: feed.members_read_at > 0)
        k = feed.book.queue_kpis("support", Window.HOUR, now)
        assert k.occupancy == pytest.approx(50 / 100)  # bob: 50 s on-call of 100 s; not ann

        redis_server.stop()
        await until(lambda: not feed.current)
        redis_server.start_again()
        await until(lambda: feed.current)
        # After the outage: c4 answered after 5 s; the old entries are not read again.
        await add(client, "call.queued", "c4", now - 10, queue="support")
        await add(client, "call.connected", "c4", now - 5, agent="ann", wait=5.0)
        await until(lambda: feed.book.queue_kpis("support", Window.HOUR, now).tally.answered == 2)
        k = feed.book.queue_kpis("support", Window.HOUR, now)
        assert (k.tally.offered, k.tally.answered, k.tally.abandoned) == (4, 2, 2)
        assert k.service_level == pytest.approx(2 / (2 + 2 - 1))  # 0.667
        assert feed.outages == 1
    finally:
        await feed.stop()
        await link.close()
