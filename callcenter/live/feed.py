"""The live feed behind every open wallboard: one reader, pushes to all pages.

Runs only while at least one page is connected. It re-reads the live snapshot when

- the event log gets a new entry (``XREAD BLOCK`` on ``cc:events``: calls queued, offered,
  answered, ended, ``agent.state``…, from any controller sharing the Redis),
- a queue's longest wait crosses its next threshold (so a tile turns red on time with no
  event at all; :func:`~callcenter.domain.wallboard.next_level_change`),
- and every ``heartbeat`` seconds, as a safety net for a change that logs no event.

Bursts are coalesced: after a wake-up it waits ``settle`` seconds so that a hundred events
cost one read. A page gets the whole board when it connects (``snapshot``), then only the
rows that changed (``update``), a ``tick`` with the server time when nothing changed for
``keepalive`` seconds (the page's clock sync and liveness check), and ``stale`` when Redis
cannot be read: the page then marks its figures as not live, never showing old figures as
current. The next good read sends a fresh snapshot to everyone.

-*- test-case-name: tests.integration.live.test_feed -*-
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import redis.asyncio as redis
from prometheus_client import Counter, Gauge, Histogram

from callcenter.domain.wallboard import QueueKpi, Thresholds, changes
from callcenter.live.board import Board, board
from callcenter.live.snapshot import LiveReader
from callcenter.store import keys
from callcenter.store.link import RedisLink, RedisUnavailableError

log = logging.getLogger(__name__)

KpiSource = Callable[[], Awaitable[Mapping[str, QueueKpi]]]

CLIENTS = Gauge("callcenter_wallboard_clients", "Wallboard pages connected to the live feed")
REFRESH_SECONDS = Histogram(
    "callcenter_wallboard_refresh_seconds",
    "Time to read the live snapshot and build the board",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PUSHES = Counter(
    "callcenter_wallboard_pushes_total", "Messages pushed to wallboard pages", ["kind"]
)
PUSH_BYTES = Counter(
    "callcenter_wallboard_push_bytes_total", "Bytes pushed to wallboard pages", ["kind"]
)

#: How long one blocking read of the event log waits (below the link's socket timeout).
TAIL_BLOCK_MS = 500


class Listener(Protocol):
    """A connected page: takes ready-made Server-Sent-Events frames."""

    def send(self, frame: bytes) -> None: ...


def frame(kind: str, body: Mapping[str, Any], event_id: int | None = None) -> bytes:
    """One Server-Sent Event (compact JSON has no newline, so one ``data:`` line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    data = json.dumps(body, separators=(",", ":"))
    return f"{head}event: {kind}\ndata: {data}\n\n".encode()


class LiveFeed:
    def __init__(
        self,
        reader: LiveReader,
        link: RedisLink,
        thresholds: Mapping[str, Thresholds],
        clock: Callable[[], float] = time.time,
        kpis: KpiSource | None = None,
        settle: float = 0.25,
        heartbeat: float = 2.0,
        keepalive: float = 5.0,
    ) -> None:
        self._reader = reader
        self._link = link
        self._thresholds = dict(thresholds)
        self._clock = clock
        self._kpis = kpis
        self._settle = settle
        self._heartbeat = heartbeat
        self._keepalive = keepalive
        self._listeners: dict[Listener, bool] = {}  # listener → has had a snapshot
        self._board: Board | None = None
        self._stale: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._tail: asyncio.Task[None] | None = None
        self._sent_at = 0.0
        self._sequence = 0
        self.refreshes = 0

    # -- pages ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """A page connected: it gets the board now if one is fresh, else at the next read."""
        self._listeners[listener] = False
        CLIENTS.set(len(self._listeners))
        if self._board is not None and self._loop is not None:
            self._listeners[listener] = True
            self._send(listener, "snapshot", self._board.full())
            if self._stale is not None:
                self._send(listener, "stale", self._stale)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.ensure_future(self._run())
            self._tail = asyncio.ensure_future(self._follow_events())
        else:
            self._wake.set()

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.pop(listener, None)
        CLIENTS.set(len(self._listeners))

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def stop(self) -> None:
        """Stop reading (the service is stopping); pages reconnect to the next one."""
        self._listeners.clear()
        CLIENTS.set(0)
        for task in (self._loop, self._tail):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- reading -------------------------------------------------------------------------

    async def read(self) -> Board:
        """A fresh board (``GET /api/wallboard``); ``RedisUnavailableError`` if Redis is gone."""
        snapshot = await self._reader.read(self._clock())
        kpis = await self._kpis() if self._kpis is not None else {}
        return board(snapshot, self._thresholds, kpis)

    async def _run(self) -> None:
        try:
            while self._listeners:
                await self._refresh()
                await self._sleep_until_due()
        except Exception:  # pragma: no cover - a bug must not leave pages silently stale
            log.exception("wallboard feed failed")
            self._push_stale("the wallboard feed failed; see the service log")
            raise
        finally:
            self._board = None  # nobody watched: the next page starts from a fresh read

    async def _refresh(self) -> None:
        started = time.perf_counter()
        try:
            fresh = await self.read()
        except RedisUnavailableError as exc:
            self._push_stale(str(exc))
            return
        self.refreshes += 1
        REFRESH_SECONDS.observe(time.perf_counter() - started)
        self._publish(fresh)

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        due = now + self._heartbeat
        if self._board is not None and self._board.next_change_at is not None:
            due = min(due, self._board.next_change_at + 0.01)
        if now - self._sent_at >= self._keepalive:
            self._broadcast("tick", {"now": now})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, due - now))
        if self._wake.is_set():
            self._wake.clear()
            await asyncio.sleep(self._settle)  # let the rest of a burst arrive: one read

    # -- pushing -------------------------------------------------------------------------

    def _publish(self, fresh: Board) -> None:
        before, was_stale = self._board, self._stale is not None
        self._board, self._stale = fresh, None
        snapshot: bytes | None = None
        update: bytes | None = None
        if before is not None and not was_stale:
            queues = changes(before.queues, fresh.queues)
            agents = changes(before.agents, fresh.agents)
            if queues or agents:
                body = {
                    "now": fresh.taken_at,
                    "queues": dict(queues.changed),
                    "agents": dict(agents.changed),
                    "removed": {"queues": list(queues.removed), "agents": list(agents.removed)},
                }
                update = self._frame("update", body)
        for listener, synced in list(self._listeners.items()):
            if synced and before is not None and not was_stale:
                if update is not None:
                    self._write(listener, "update", update)
                continue
            if snapshot is None:
                snapshot = self._frame("snapshot", fresh.full())
            self._write(listener, "snapshot", snapshot)
            self._listeners[listener] = True

    def _push_stale(self, reason: str) -> None:
        now = self._clock()
        if self._stale is None:
            log.warning("wallboard: live data unavailable (%s); pages marked stale", reason)
            since = self._board.taken_at if self._board is not None else None
            self._stale = {"now": now, "since": since, "reason": reason}
        self._stale = {**self._stale, "now": now}
        self._broadcast("stale", self._stale)

    def _broadcast(self, kind: str, body: Mapping[str, Any]) -> None:
        data = self._frame(kind, body)
        for listener in list(self._listeners):
            self._write(listener, kind, data)
        self._sent_at = self._clock()

    def _send(self, listener: Listener, kind: str, body: Mapping[str, Any]) -> None:
        self._write(listener, kind, self._frame(kind, body))

    def _frame(self, kind: str, body: Mapping[str, Any]) -> bytes:
        self._sequence += 1
        return frame(kind, body, self._sequence)

    def _write(self, listener: Listener, kind: str, data: bytes) -> None:
        try:
            listener.send(data)
        except Exception:  # a page that went away mid-write is dropped, never the feed
            log.debug("wallboard page dropped", exc_info=True)
            self.unsubscribe(listener)
            return
        PUSHES.labels(kind).inc()
        PUSH_BYTES.labels(kind).inc(len(data))
        self._sent_at = self._clock()

    # -- the event log -------------------------------------------------------------------

    async def _follow_events(self) -> None:
        """Wake the loop on every new entry of ``cc:events``."""
        last: str | None = None
        while self._listeners:
            try:
                if last is None:
                    last = await self._link.read(_newest_event)
                found = await self._link.read(_entries_after(last))
            except RedisUnavailableError:
                last = None  # start again from the end once Redis is back: the read is whole
                await asyncio.sleep(1.0)
                continue
            newest = _last_id(found)
            if newest is not None:
                last = newest
                self._wake.set()


def _entries_after(last: str) -> Callable[[redis.Redis], Awaitable[Any]]:
    async def read(client: redis.Redis) -> Any:
        return await client.xread({keys.EVENTS: last}, count=1000, block=TAIL_BLOCK_MS)

    return read


async def _newest_event(client: redis.Redis) -> str:
    found = await client.xrevrange(keys.EVENTS, count=1)
    return str(found[0][0]) if found else "0-0"


def _last_id(found: Any) -> str | None:
    """The newest entry id of an ``XREAD`` reply (RESP2 list or RESP3 map), None if empty."""
    if not found:
        return None
    streams = found.values() if isinstance(found, dict) else [entries for _, entries in found]
    ids = [str(entries[-1][0]) for entries in streams if entries]
    return max(ids, key=_id_key) if ids else None


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
