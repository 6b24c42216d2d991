"""The one bridge between asyncio code (redis.asyncio) and Twisted code.

The controller runs Twisted on the asyncio reactor, so both share one loop; Twisted callers
wrap a coroutine into a Deferred here instead of scattering ``fromFuture`` calls around.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

T = TypeVar("T")


def as_deferred(coroutine: Coroutine[Any, Any, T]) -> Deferred[T]:
    return Deferred.fromFuture(asyncio.ensure_future(coroutine))


async def wait_for(deferred: Deferred[T]) -> T:
    """Await a Deferred from asyncio code (an HTTP handler awaiting a media worker)."""
    return await deferred.asFuture(asyncio.get_running_loop())
