"""The audit log: supervisors' recent actions, newest first, in a capped Redis list.

The ``supervisor.action`` events on ``cc:events`` are the record of truth (consumers replay
them); this list is the quick answer to "who did what lately" for ``GET /api/audit``, without
scanning a stream of every call's events for the rare supervisor action. Writes go through the
link's ordered, outage-proof queue, like the events themselves.

-*- test-case-name: tests.integration.supervisor.test_audit_api -*-
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis

from callcenter.store import keys
from callcenter.store.link import RedisLink

#: Actions kept (the oldest are dropped beyond this).
AUDIT_KEPT = 10_000


class AuditLog:
    def __init__(self, link: RedisLink, kept: int = AUDIT_KEPT) -> None:
        self._link = link
        self._kept = kept

    def append(self, entry: dict[str, Any]) -> None:
        document = json.dumps(entry, separators=(",", ":"))
        kept = self._kept

        async def write(client: redis.Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.lpush(keys.AUDIT, document)
                pipe.ltrim(keys.AUDIT, 0, kept - 1)
                await pipe.execute()

        self._link.submit(write)

    async def recent(
        self, limit: int, keep: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` entries, newest first; with ``keep``, only those it accepts (every
        kept entry is then read: at most ``AUDIT_KEPT``, and this is an occasional query)."""
        stop = limit - 1 if keep is None else -1
        raw: list[Any] = await self._link.read(lambda c: c.lrange(keys.AUDIT, 0, stop))
        entries = [dict(json.loads(item)) for item in raw]
        if keep is not None:
            entries = [entry for entry in entries if keep(entry)]
        return entries[:limit]
