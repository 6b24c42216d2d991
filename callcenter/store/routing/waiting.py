"""Redis side of the queue experience: recent handle times, and moving a waiting caller.

Handle times are a capped list per queue (newest first, ``HANDLE_TIMES_KEPT`` long) so every
controller on one Redis estimates waits from the same calls. Moving or taking a caller out
of its queue, and a supervisor's change of its queue or priority, is a WATCH/MULTI on the
call's hash: the match scripts write that hash (``agent``) when they reserve an agent for it,
so a call that an agent's phone is ringing for is never moved or removed under the ringing
phone; the caller then stays, and the adapter tries again (or the supervisor is told).

-*- test-case-name: tests.integration.store.test_waiting_store -*-
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
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


class Found(StrEnum):
    """What a change of a waiting call found in Redis."""

    CHANGED = "changed"  # it waited, and now waits as asked
    UNCHANGED = "unchanged"  # it waited, already as asked: nothing written
    ABSENT = "absent"  # not waiting (never queued, answered, gone, or in another IVR step)
    RINGING = "ringing"  # an agent's phone rings for it: left alone


@dataclass(frozen=True)
class CallChange:
    """The outcome of :meth:`WaitingStore.change`: the call before and after, or why not."""

    found: Found
    before: WaitingCall | None = None
    after: WaitingCall | None = None
    agent: str | None = None  # the ringing agent


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

    async def move(self, call_id: str, queue: str, expect: str | None = None) -> WaitingCall | None:
        """Move a waiting call to ``queue``, keeping its priority and original entry time.

        None when the call is not waiting (gone, or an agent's phone rings for it), or when
        ``expect`` is given and the call waits in another queue (a supervisor moved it).
        """
        return await self._take(call_id, queue, expect)

    async def take(self, call_id: str, expect: str | None = None) -> WaitingCall | None:
        """Take a waiting call out of routing (it is about to be hung up); None as for move."""
        return await self._take(call_id, None, expect)

    async def change(self, call_id: str, how: Callable[[WaitingCall], WaitingCall]) -> CallChange:
        """Rewrite a waiting call as ``how`` says (another queue, another priority), atomically.

        The call keeps its place rules: its score is recomputed from its (possibly new)
        priority and its original ``entered_at``, in its (possibly new) queue. A call an
        agent's phone rings for is left alone (``RINGING``), so a supervisor never pulls a
        caller from under a ringing phone.
        """
        key = keys.waiting_call(call_id)

        async def run(client: redis.Redis) -> CallChange:
            while True:
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        fields = {str(k): str(v) for k, v in (await pipe.hgetall(key)).items()}
                        if not fields or "agent" in fields:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            if not fields:
                                return CallChange(Found.ABSENT)
                            return CallChange(Found.RINGING, agent=fields["agent"])
                        before = decode_call(call_id, fields)
                        after = how(before)
                        if after == before:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return CallChange(Found.UNCHANGED, before, after)
                        new = call_fields(after)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.zrem(keys.queue_waiting(before.queue), call_id)
                        pipe.delete(key)
                        pipe.hset(key, mapping=new)  # type: ignore[arg-type]
                        pipe.zadd(keys.queue_waiting(after.queue), {call_id: float(new["score"])})
                        await pipe.execute()
                        return CallChange(Found.CHANGED, before, after)
                    except WatchError:
                        continue

        return await self._link.read(run)

    async def _take(
        self, call_id: str, to: str | None, expect: str | None = None
    ) -> WaitingCall | None:
        key = keys.waiting_call(call_id)

        async def run(client: redis.Redis) -> WaitingCall | None:
            while True:
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        fields = {str(k): str(v) for k, v in (await pipe.hgetall(key)).items()}
                        elsewhere = expect is not None and fields.get("queue") != expect
                        if not fields or "agent" in fields or elsewhere:
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
