"""KpiFeed: the event log (Redis Stream ``cc:events``) read into a KpiBook, live.

KPIs are shared-state figures: every ``serve`` process reads *all* events (not a consumer
group share), so any process answers the same. At start the feed reads the stream from the
start of today (in the configured time zone; stream ids are millisecond times, so
``XRANGE <midnight ms>-0 +``), page by page, then follows it with ``XREAD BLOCK``. When Redis
is lost, the feed says so (``current`` False: figures would be stale) and retries every
second from the last id it read, so nothing is counted twice or missed once Redis is back.
The entry ``id`` field makes a replayed entry harmless too (:class:`FactReader`).

-*- test-case-name: tests.integration.kpi.test_feed -*-
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from callcenter.domain.events import LogEntry, entry_from_fields
from callcenter.domain.kpi import FactReader, KpiBook, Window, window_start
from callcenter.store import keys

log = logging.getLogger(__name__)

PAGE = 1000
BLOCK_MS = 1000
RETRY_SECONDS = 1.0
#: How often queue membership (occupancy per queue) is re-read: supervisors edit it live.
MEMBERS_SECONDS = 30.0


def entry_of(fields: Mapping[str, Any]) -> LogEntry | None:
    """A stream entry's fields as a LogEntry; None when it is not one of ours."""
    try:
        return entry_from_fields(fields)
    except ValueError:
        return None


class KpiFeed:
    def __init__(
        self,
        client: redis.Redis,
        book: KpiBook,
        clock: Callable[[], float] = time.time,
        stream: str = keys.EVENTS,
    ) -> None:
        self._client = client
        self.book = book
        self._clock = clock
        self._stream = stream
        self._reader = FactReader()
        self._task: asyncio.Task[None] | None = None
        self.last_id: str | None = None
        #: Caught up with the log and Redis answering: the book's figures are current.
        self.current = False
        self.entries = 0
        self.outages = 0
        self.members_read_at = float("-inf")

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not ``await task``: the latter was seen never to return when the
            # task was cancelled inside redis-py's blocking XREAD under the asyncio reactor.
            await asyncio.wait({self._task}, timeout=5)

    async def _run(self) -> None:
        while True:
            try:
                if self.last_id is None:
                    await self._read_today()
                    self.current = True
                await self._follow()
            except (RedisError, OSError) as exc:
                if self.current or self.outages == 0:
                    log.warning("KPI feed: Redis lost (%s); figures not current", exc)
                    self.outages += 1
                self.current = False
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:  # a bug must not stop the figures for good: log, go on
                log.exception("KPI feed failed; retrying")
                self.current = False
                await asyncio.sleep(RETRY_SECONDS)

    async def _read_today(self) -> None:
        start_ms = int(window_start(Window.TODAY, self._clock(), self.book.tz) * 1000)
        low = f"{start_ms}-0"
        last = None
        while True:
            rows: Any = await self._client.xrange(self._stream, low, "+", count=PAGE)
            for entry_id, fields in rows:
                self._take(fields)
                last = str(entry_id)
            if len(rows) < PAGE:
                break
            low = "(" + str(last)
        # Nothing today yet: follow from now on (``$`` would skip what lands meanwhile).
        self.last_id = last or f"{start_ms}-0"

    async def _follow(self) -> None:
        while True:
            assert self.last_id is not None
            got: Any = await self._client.xread(
                {self._stream: self.last_id}, count=PAGE, block=BLOCK_MS
            )
            if not self.current:
                log.info("KPI feed: Redis is back; following from %s", self.last_id)
                self.current = True
            if self._clock() - self.members_read_at >= MEMBERS_SECONDS:
                await self._read_members()
            for _, rows in got or []:
                for entry_id, fields in rows:
                    self._take(fields)
                    self.last_id = str(entry_id)

    async def _read_members(self) -> None:
        """Each queue's member agents as routing has them (config plus runtime edits)."""
        queues = self.book.queues
        async with self._client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.smembers(keys.queue_members(queue))
            found: list[Any] = await pipe.execute()
        self.book.set_members({q: {str(a) for a in m} for q, m in zip(queues, found, strict=True)})
        self.members_read_at = self._clock()

    def _take(self, fields: Mapping[str, Any]) -> None:
        entry = entry_of(fields)
        if entry is None:
            return
        self.entries += 1
        self.book.add_all(self._reader.read(entry))
