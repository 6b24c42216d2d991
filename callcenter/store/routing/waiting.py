"""Redis side of the queue experience: recent handle times, and moving a waiting caller.

Handle times are a capped list per queue (newest first, ``HANDLE_TIMES_KEPT`` long) so every
controller on one Redis estimates waits from the same calls. Moving or taking a caller out
of its queue is a WATCH/MULTI on the call's hash: the match scripts write that hash (``agent``)
when they reserve an agent for it, so a call that an agent's phone is ringing for is never
moved or removed under the ringing phone; the caller then stays, and the adapter tries again.

-*- test-case-name: tests.integration.store.test_waiting_store -*-
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import redis.asyncio as redis
from redis.exceptions import WatchError

from callcenter.domain.routing import WaitingCall
from callcenter.domain.routing.estimates import HandleTimes
from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.routing.codec import call_fields, decode_call, num

#: Handle times kept per queue for the estimate (the moving window of ``HandleTimes``).
HANDLE_TIMES_KEPT = 20


class WaitingStore:
    def __init__(self, link: RedisLink, kept: int = HANDLE_TIMES_KEPT) -> None:
        self._link = link
        self._kept = kept

    async def record_handle_time(self, queue: str, seconds: float) -> None:
        key = keys.handle_times(queue)

        async def write(client: redis.Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, num(seconds))
                pipe.ltrim(key, 0, self._kept - 1)
                await pipe.execute()

        await self._link.read(write)

    async def handle_times(self, queue: str) -> HandleTimes:
        raw: list[Any] = await self._link.read(
            lambda c: c.lrange(keys.handle_times(queue), 0, self._kept - 1)
        )
        return HandleTimes(self._kept, tuple(float(v) for v in reversed(raw)))

    async def move(self, call_id: str, queue: str) -> WaitingCall | None:
        """Move a waiting call to ``queue``, keeping its priority and original entry time.

        None when the call is not waiting (gone, or an agent's phone rings for it).
        """
        return await self._take(call_id, queue)

    async def take(self, call_id: str) -> WaitingCall | None:
        """Take a waiting call out of routing (it is about to be hung up); None as for move."""
        return await self._take(call_id, None)

    async def _take(self, call_id: str, to: str | None) -> WaitingCall | None:
        key = keys.waiting_call(call_id)

        async def run(client: redis.Redis) -> WaitingCall | None:
            while True:
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        fields = {str(k): str(v) for k, v in (await pipe.hgetall(key)).items()}
                        if not fields or "agent" in fields:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return None
                        call = decode_call(call_id, fields)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.zrem(keys.queue_waiting(call.queue), call_id)
                        pipe.delete(key)
                        if to is not None:
                            call = replace(call, queue=to)
                            moved = call_fields(call)
                            pipe.hset(key, mapping=moved)  # type: ignore[arg-type]
                            pipe.zadd(keys.queue_waiting(to), {call_id: float(moved["score"])})
                        await pipe.execute()
                        return call
                    except WatchError:
                        continue

        return await self._link.read(run)
