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
