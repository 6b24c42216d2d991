"""The history's reader of the event log: a Redis consumer group on ``cc:events``.

Several ``serve`` processes share one group, so each event is written by one of them. An event
is acknowledged only after the database transaction that stores it commits; until then it stays
pending in the stream, so a crash, a database outage or a Redis outage loses nothing: this
consumer retries its own pending entries (with backoff) and entries left pending by a consumer
that died are claimed (XAUTOCLAIM) by a live one after ``claim_idle_seconds``. The writer is
idempotent on the event ``id``, so an entry written twice (claimed from a consumer that was only
slow) changes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from prometheus_client import Counter
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import exc as sa_exc
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from callcenter.aio import as_deferred
from callcenter.domain.events import entry_from_fields
from callcenter.history.writer import HistoryWriter, LoggedEvent
from callcenter.store import keys

log = logging.getLogger(__name__)

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], Deferred[T]]

GROUP_PREFIX = "history-"
REJECTED = keys.PREFIX + "history:rejected"  # Stream: events the history could not take
POISON_STRIKES = 5  # failures of one batch, the database answering, before it is split


def group_name(database_identity: str) -> str:
    """One consumer group per history database: processes writing to the same database share
    the work, while processes with databases of their own (each its SQLite file) each get
    every event, so no database holds half of a call."""
    return GROUP_PREFIX + hashlib.sha1(database_identity.encode()).hexdigest()[:16]


EVENTS_WRITTEN = Counter(
    "callcenter_history_events_total", "Event log entries written to the history database"
)
EVENTS_REJECTED = Counter(
    "callcenter_history_rejected_total",
    "Events the history database refused alone, parked in cc:history:rejected",
)
WRITE_FAILURES = Counter(
    "callcenter_history_write_failures_total",
    "Failed attempts to read the event log or write the history (retried)",
)


def parse_entry(entry_id: str, fields: dict[str, str]) -> LoggedEvent | None:
    """An event from a stream entry; None for an entry that is not an event (skipped)."""
    try:
        ms, seq = (int(part) for part in entry_id.split("-"))
        event = entry_from_fields(fields, entry_id)
    except ValueError as exc:
        log.warning("history: event log entry %s skipped: %r", entry_id, exc)
        return None
    return LoggedEvent(event, ms * 1_000_000 + seq)


class HistoryConsumer:
    def __init__(
        self,
        client: redis.Redis,
        writer: HistoryWriter,
        run_blocking: RunBlocking[Any],
        clock: IReactorTime,
        consumer: str,
        group: str = GROUP_PREFIX + "default",
        stream: str = keys.EVENTS,
        batch: int = 200,
        claim_idle_seconds: float = 30.0,
        block_ms: int = 1000,
        max_backoff: float = 10.0,
        forget_idle_seconds: float = 3600.0,
        linger_seconds: float = 0.5,
    ) -> None:
        self._client = client
        self._writer = writer
        self._run_blocking = run_blocking
        self._clock = clock
        self.consumer = consumer
        self.group = group
        self._stream = stream
        self._batch = batch
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._block_ms = block_ms
        self._max_backoff = max_backoff
        self._forget_idle_ms = int(forget_idle_seconds * 1000)
        self._linger = linger_seconds
        self._strikes = 0  # consecutive failures of a batch while the database answers
        self._next_forget = 0.0
        self._running = False
        self._idle_stops = False  # stopping: end at the first empty read
        self._loop: Deferred[None] | None = None
        self._group_ready = False
        self._own_pending = True  # re-read what this consumer name holds before new entries
        self._next_claim = 0.0
        self.written = 0  # entries acknowledged by this consumer
        self.failures = 0
        self.healthy = True

    def start(self) -> None:
        self._running = True
        self._loop = Deferred.fromCoroutine(self._run())

    async def stop(self, catch_up_seconds: float = 3.0) -> None:
        """Stop after writing what the log holds now (for up to ``catch_up_seconds``), so a
        report run right after a stop sees the last calls; the rest stays pending."""
        self._idle_stops = True
        deadline = time.monotonic() + catch_up_seconds
        while self._running and time.monotonic() < deadline:
            await deferLater(self._clock, 0.05)
        self._running = False
        if self._loop is not None:
            await self._loop

    async def _run(self) -> None:
        backoff = 0.2
        while self._running:
            try:
                if not self._group_ready:
                    await as_deferred(self._create_group())
                    self._group_ready = True
                await self._step()
                backoff = 0.2
                self.healthy = True
            except Exception as exc:  # Redis or the database is down: retry, lose nothing
                self.failures += 1
                self.healthy = False
                WRITE_FAILURES.inc()
                self._own_pending = True
                log.warning("history: %s; retrying in %.1f s", _describe(exc), backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._running and time.monotonic() < deadline:
            await deferLater(self._clock, min(0.1, seconds))

    async def _create_group(self) -> None:
        try:
            await self._client.xgroup_create(self._stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _step(self) -> None:
        entries: list[tuple[str, dict[str, str] | None]] = []
        if self._own_pending:
            entries = await as_deferred(self._read("0", block=None))
            self._own_pending = bool(entries)
        if not entries and time.monotonic() >= self._next_claim:
            entries = await as_deferred(self._claim())
            self._next_claim = time.monotonic() + min(5.0, self._claim_idle_ms / 2000)
        if not entries and time.monotonic() >= self._next_forget:
            await as_deferred(self._forget_departed())
            self._next_forget = time.monotonic() + min(60.0, self._forget_idle_ms / 2000)
        if not entries:
            block = 100 if self._idle_stops else self._block_ms
            entries = await as_deferred(self._read(">", block=block))
            if not entries and self._idle_stops:
                self._running = False
            elif 0 < len(entries) < self._batch and self._linger > 0 and not self._idle_stops:
                # A trickle (a few events of many calls): let more of them arrive, so each
                # call is summarised once for several of its events, not once per event.
                await deferLater(self._clock, self._linger)
                more = self._batch - len(entries)
                entries += await as_deferred(self._read(">", block=None, count=more))
        if entries:
            await self._write(entries)

    async def _read(
        self, start: str, block: int | None, count: int | None = None
    ) -> list[tuple[str, dict[str, str] | None]]:
        reply = await self._client.xreadgroup(
            self.group,
            self.consumer,
            {self._stream: start},
            count=count or self._batch,
            block=block,
        )
        if not reply:
            return []
        raw: Any = reply[0][1] if isinstance(reply, list) else reply[self._stream][0]
        return [(str(entry_id), fields) for entry_id, fields in raw]

    async def _forget_departed(self) -> None:
        """Each start joins under a new name: names of processes long gone with nothing
        pending are removed from the group so it does not grow with every restart."""
        consumers: Any = await self._client.xinfo_consumers(self._stream, self.group)
        for consumer in consumers:
            name = str(consumer["name"])
            idle = int(consumer.get("inactive", consumer["idle"]))
            if name != self.consumer and consumer["pending"] == 0 and idle > self._forget_idle_ms:
                await self._client.xgroup_delconsumer(self._stream, self.group, name)

    async def _claim(self) -> list[tuple[str, dict[str, str] | None]]:
        """Entries a dead (or long-stuck) consumer left pending."""
        reply = await self._client.xautoclaim(
            self._stream, self.group, self.consumer, self._claim_idle_ms, "0-0", count=self._batch
        )
        raw: Any = reply
        claimed = [(str(i), f) for i, f in raw[1]]
        if claimed:
            log.info("history: claimed %d pending events from other consumers", len(claimed))
        return claimed

    async def _write(self, entries: list[tuple[str, dict[str, str] | None]]) -> None:
        batch: list[tuple[str, dict[str, str], LoggedEvent]] = []
        for entry_id, fields in entries:
            # An entry trimmed from the stream while pending comes back without fields.
            logged = parse_entry(entry_id, fields) if fields else None
            if logged is not None and fields is not None:
                batch.append((entry_id, fields, logged))
        if batch:
            try:
                await self._run_blocking(lambda: self._writer.write([b[2] for b in batch]))
                self._strikes = 0
            except Exception as exc:
                if _is_outage(exc):
                    raise  # retried with backoff: nothing is acknowledged
                self._strikes += 1
                if self._strikes < POISON_STRIKES:
                    raise
                await self._isolate(batch, exc)
        ids = [entry_id for entry_id, _ in entries]
        await as_deferred(self._ack(ids))
        self.written += len(ids)
        EVENTS_WRITTEN.inc(len(batch))

    async def _isolate(
        self, batch: list[tuple[str, dict[str, str], LoggedEvent]], first: Exception
    ) -> None:
        """The same batch keeps failing while the database answers (an event the writer or a
        listener cannot take): write its events one by one and park those that fail alone in
        ``cc:history:rejected`` with the error, so one bad event cannot stop the history."""
        log.error("history: a batch failed %d times (%s); writing its events one by one",
                  self._strikes, _describe(first))  # fmt: skip
        for entry_id, fields, logged in batch:
            try:
                await self._run_blocking(functools.partial(self._writer.write, [logged]))
            except Exception as exc:
                if _is_outage(exc):
                    raise
                event = logged.event
                log.error(
                    "history: event %s (%s of call %s) parked in %s: %s",
                    event.id, event.type, event.call_id, REJECTED, _describe(exc),
                )  # fmt: skip
                parked = {**fields, "entry": entry_id, "error": _describe(exc)}
                await as_deferred(self._park(parked))
                EVENTS_REJECTED.inc()
        self._strikes = 0

    async def _park(self, fields: dict[str, str]) -> None:
        await self._client.xadd(REJECTED, fields)  # type: ignore[arg-type]

    async def _ack(self, ids: list[str]) -> None:
        await self._client.xack(self._stream, self.group, *ids)


def _is_outage(exc: Exception) -> bool:
    """A fault of the database or Redis connection (wait and retry), not of the data."""
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | RedisError | OSError)


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]
