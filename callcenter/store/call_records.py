"""Call records and the event log in Redis.

Records are whole JSON documents (a SET is idempotent, so replaying a write after an outage is
harmless); the recent index is a sorted set trimmed to a configured size. Events go to a Stream
capped by length, read later by the history, ticket and metrics consumers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis

from callcenter.domain.calls import CallRecord
from callcenter.store import keys
from callcenter.store.link import RedisLink

log = logging.getLogger(__name__)

EVENT_STREAM_MAXLEN = 1_000_000


class CallRecords:
    def __init__(self, link: RedisLink, keep: int) -> None:
        self._link = link
        self._keep = keep

    def save(self, record: CallRecord) -> None:
        document = json.dumps(record.to_json(), separators=(",", ":"))
        call_id, arrived, finished = record.call_id, record.arrived_at, record.finished
        keep = self._keep

        async def write(client: redis.Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(keys.call(call_id), document)
                pipe.zadd(keys.CALLS_RECENT, {call_id: arrived})
                if finished:
                    pipe.srem(keys.CALLS_ACTIVE, call_id)
                else:
                    pipe.sadd(keys.CALLS_ACTIVE, call_id)
                await pipe.execute()
            await _trim(client, keep)

        self._link.submit(write)

    async def get(self, call_id: str) -> dict[str, Any] | None:
        raw = await self._link.read(lambda c: c.get(keys.call(call_id)))
        return None if raw is None else dict(json.loads(raw))

    async def recent(self, limit: int, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first; ``before`` (an arrival time) pages further back."""
        top = f"({before}" if before is not None else "+inf"

        async def read(client: redis.Redis) -> list[Any]:
            ids = await client.zrevrangebyscore(keys.CALLS_RECENT, top, "-inf", 0, limit)
            if not ids:
                return []
            return list(await client.mget([keys.call(str(i)) for i in ids]))

        raws = await self._link.read(read)
        return [json.loads(r) for r in raws if r is not None]

    async def active_ids(self) -> set[str]:
        members = await self._link.read(lambda c: c.smembers(keys.CALLS_ACTIVE))
        return {str(m) for m in members}


async def _trim(client: redis.Redis, keep: int) -> None:
    excess = await client.zcard(keys.CALLS_RECENT) - keep
    if excess > 0:
        old = await client.zrange(keys.CALLS_RECENT, 0, excess - 1)
        async with client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyrank(keys.CALLS_RECENT, 0, excess - 1)
            pipe.delete(*[keys.call(str(i)) for i in old])
            await pipe.execute()


# Append an event once: a write whose reply was lost (Redis froze after running it) is replayed
# by the link, so each event carries an id and the append is skipped if that id was seen.
APPEND_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false
"""
SEEN_EVENT_TTL_SECONDS = 86400  # longer than any outage the link buffers through


class EventLog:
    """Append-only event log (a Redis Stream). Every state change of a call is one entry.

    Each entry has an ``id`` field (unique per event) so that consumers, too, can tell a
    replay from a new event. ``listeners`` are told of every event this process appends, as
    ``(id, type, call_id, at, data)``, at once (even while Redis is lost): the per-process
    Prometheus counters count there.
    """

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._append_once = link.client.register_script(APPEND_ONCE)
        self.listeners: list[Callable[[str, str, str, float, dict[str, Any]], None]] = []

    def append(self, event_type: str, call_id: str, **data: Any) -> None:
        event_id = uuid.uuid4().hex
        at = time.time()
        fields = [
            "id", event_id,
            "type", event_type,
            "call_id", call_id,
            "at", repr(at),
            "data", json.dumps(data, separators=(",", ":")),
        ]  # fmt: skip
        for listener in self.listeners:
            try:
                listener(event_id, event_type, call_id, at, data)
            except Exception:  # counting must never cost an event
                log.exception("event listener %r failed", listener)
        script = self._append_once

        async def write(client: redis.Redis) -> None:
            await script(
                keys=[keys.EVENTS, keys.event_seen(event_id)],
                args=[SEEN_EVENT_TTL_SECONDS, EVENT_STREAM_MAXLEN, *fields],
                client=client,
            )

        self._link.submit(write)
