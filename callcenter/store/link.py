"""The service's connection to Redis, and what happens when Redis goes away.

A contact centre must not drop a caller because Redis blinked. Calls in progress keep their
state in memory; their writes are queued here, in order, and replayed when Redis answers again.
Meanwhile ``healthy`` is False, so admission can turn *new* calls away with a clear 503 rather
than accept calls it cannot route. A monitor pings Redis to notice loss and recovery even when
no write is happening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_CONNECTIONS = 64
POOL_WAIT_SECONDS = 5.0
Write = Callable[[redis.Redis], Awaitable[object]]


class RedisUnavailableError(Exception):
    """Redis did not answer; the message names the URL (never its password)."""


def redacted(url: str) -> str:
    """The URL without a password, fit for logs and error messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


class RedisLink:
    def __init__(self, url: str, max_pending: int = 100_000) -> None:
        self.url = url
        # A burst (hundreds of calls queuing at once) must wait for a free connection, not
        # fail with "Too many connections" and be mistaken for Redis being down.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
            socket_timeout=2,
            socket_connect_timeout=2,
            decode_responses=True,
        )
        self.client: redis.Redis = redis.Redis.from_pool(pool)  # owns it: closed with it
        self.healthy = False
        self._pending: deque[Write] = deque()
        self._max_pending = max_pending
        self._drain: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self.outages = 0
        self.dropped_writes = 0

    async def connect(self) -> None:
        """First contact: fail fast with a clear message if Redis is not there at start."""
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            where = redacted(self.url)
            raise RedisUnavailableError(f"cannot reach Redis at {where}: {exc}") from exc
        self.healthy = True

    def start_monitor(self, interval: float = 1.0) -> None:
        self._monitor = asyncio.ensure_future(self._watch(interval))

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        await self.drained()
        await self.client.aclose()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, operation: Write) -> None:
        """Queue a write; writes run one at a time, in the order submitted.

        One queue serves both jobs: it keeps a call record's successive versions in order (two
        concurrent SETs could land the older one last), and it is the outage buffer.
        """
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped_writes += 1
            log.error("Redis outage buffer full: oldest pending write dropped")
        self._pending.append(operation)
        if self.healthy:
            self._start_drain()

    async def drained(self) -> None:
        """Wait until every submitted write has reached Redis (or Redis was lost)."""
        while self._pending and self.healthy:
            self._start_drain()
            if self._drain is not None:
                await asyncio.shield(self._drain)

    async def read(self, operation: Callable[[redis.Redis], Awaitable[T]]) -> T:
        """Run a read; raise RedisUnavailableError (for a clear 503) when Redis is not answering."""
        try:
            return await operation(self.client)
        except (RedisError, OSError) as exc:
            self._lost(exc)
            raise RedisUnavailableError(f"Redis is unavailable: {exc}") from exc

    def _lost(self, exc: Exception) -> None:
        if self.healthy:
            self.healthy = False
            self.outages += 1
            log.error("Redis lost (%s); new calls are refused until it is back", exc)

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.client.ping()
            except (RedisError, OSError) as exc:
                self._lost(exc)
                continue
            if not self.healthy:
                log.warning("Redis is back; replaying %d pending writes", len(self._pending))
                self.healthy = True
            if self._pending:
                self._start_drain()

    def _start_drain(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._run_pending())

    async def _run_pending(self) -> None:
        while self._pending:
            operation = self._pending[0]
            try:
                await operation(self.client)
            except (RedisError, OSError) as exc:
                self._lost(exc)
                return
            self._pending.popleft()
