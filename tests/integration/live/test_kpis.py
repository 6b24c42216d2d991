"""Tiles show today's service level, answered and abandoned from the real KPI book."""

from __future__ import annotations

import time

from callcenter.domain.routing import Queue
from callcenter.domain.wallboard import Thresholds
from callcenter.kpi.feed import KpiFeed
from callcenter.live.kpis import today_from
from callcenter.store.link import RedisLink
from tests.integration.agents.kit import in_task
from tests.integration.kpi.kit import add, new_book, until
from tests.integration.live.kit import wallboard
from tests.support.redis_server import RedisServer


@in_task
async def test_a_tile_shows_todays_figures_and_turns_red_below_the_service_level(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    await link.connect()
    kpis = KpiFeed(link.client, new_book())  # support: answered within 20 s counts
    kpis.start()
    limits = {"support": Thresholds(service_level_amber=80, service_level_red=60)}
    try:
        await until(lambda: kpis.current)
        source = today_from(kpis, time.time)
        async with wallboard(redis_server, [Queue("support")], limits, kpis=source) as board:
            stream = await board.stream()
            try:
                row = (await stream.next("snapshot")).data["queues"]["support"]
                assert (row["answered"], row["abandoned"], row["service_level"]) == (0, 0, None)
                now = time.time()
                await add(link.client, "call.queued", "c1", now - 60, queue="support")
                await add(link.client, "call.connected", "c1", now - 50, agent="ann", wait=10.0)
                await add(link.client, "call.queued", "c2", now - 40, queue="support")
                await add(link.client, "call.ended", "c2", now - 10, outcome="abandoned",
                          by="caller")  # fmt: skip
                while row["abandoned"] != 1:
                    update = await stream.next("update", timeout=10)
                    row = update.data["queues"].get("support", row)
                assert (row["answered"], row["service_level"]) == (1, 50.0)  # 1 of 2 in time
                assert row["level"] == "red"
                assert row["reasons"] == ["service level 50% < 60%"]
            finally:
                stream.close()
    finally:
        await kpis.stop()
        await link.close()


@in_task
async def test_figures_from_a_kpi_feed_that_is_not_current_are_unknown(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    await link.connect()
    kpis = KpiFeed(link.client, new_book())  # never started: not current
    try:
        assert await today_from(kpis, time.time)() == {}
    finally:
        await link.close()
