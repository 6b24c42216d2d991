"""Shared by the KPI integration tests: scripted event log entries, polling."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from callcenter.domain.kpi import KpiBook, QueueTargets
from callcenter.store import keys

TARGETS = {"support": QueueTargets(service_level_seconds=20, short_abandon_seconds=5)}


def new_book() -> KpiBook:
    return KpiBook(TARGETS, UTC, members={"support": ["ann"]})


async def add(client: redis.Redis, kind: str, call_id: str, at: float, **data: Any) -> None:
    """Append an entry as ``EventLog.append`` does, with a chosen ``at``.

    Retried a few times: after a Redis restart the pool's first connection is a dead one.
    """
    fields = {
        "id": uuid.uuid4().hex,
        "type": kind,
        "call_id": call_id,
        "at": repr(at),
        "data": json.dumps(data),
    }
    for attempt in range(5):
        try:
            await client.xadd(keys.EVENTS, fields)  # type: ignore[arg-type]
            return
        except RedisError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
