"""The history inside ``callcenter serve``: its database, writer, consumer and reads.

Every database call runs in this service's own small thread pool (never on the reactor
thread), so a slow or unreachable database delays history writes, not calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from callcenter.history.consumer import HistoryConsumer, group_name
from callcenter.history.database import HistoryDatabase
from callcenter.history.queries import CallFilter, HistoryQueries
from callcenter.history.writer import HistoryWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


class HistoryService:
    def __init__(
        self,
        database: HistoryDatabase,
        redis_url: str,
        reactor: Any,
        consumer_name: str,
        claim_idle_seconds: float,
    ) -> None:
        self.database = database
        self.writer = HistoryWriter(database)
        self.queries = HistoryQueries(database)
        self._reactor = reactor
        self._threads = ThreadPool(minthreads=1, maxthreads=4, name="history")
        self._client = redis.Redis.from_url(
            redis_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=2
        )
        self.consumer = HistoryConsumer(
            self._client,
            self.writer,
            self.run,
            reactor,
            consumer_name,
            group=group_name(database.identity),
            claim_idle_seconds=claim_idle_seconds,
        )

    def run(self, work: Callable[[], T]) -> Deferred[T]:
        """``work()`` in the history thread pool."""
        return deferToThreadPool(self._reactor, self._threads, work)

    async def run_async(self, work: Callable[[], T]) -> T:
        """The same, awaited from asyncio code (the HTTP handlers)."""
        return await self.run(work).asFuture(asyncio.get_running_loop())

    async def open(self) -> None:
        """Start the thread pool and create the schema (tables other packages defined on
        the shared metadata included)."""
        self._threads.start()
        try:
            await self.run(self.database.create_schema)
        except Exception as exc:  # down at start: the writer creates it when it comes back
            log.error("history database %s: %s", self.database.redacted_url(), exc)

    def start_consuming(self) -> None:
        self.consumer.start()

    async def close(self) -> None:
        await self.consumer.stop()
        await Deferred.fromFuture(asyncio.ensure_future(self._client.aclose()))
        self._threads.stop()
        self.database.dispose()

    def health(self) -> dict[str, Any]:
        """For ``/healthz``: is the consumer writing, and how much it has written."""
        consumer = self.consumer
        return {
            "healthy": consumer.healthy,
            "events_written": consumer.written,
            "failures": consumer.failures,
            "database": self.database.redacted_url(),
        }

    # --- reads for the API -----------------------------------------------------------------

    async def call(self, call_id: str) -> dict[str, Any] | None:
        return await self.run_async(lambda: self.queries.call(call_id))

    async def calls(self, which: CallFilter) -> list[dict[str, Any]]:
        return await self.run_async(lambda: self.queries.calls(which))
