"""Registration bindings (RFC 3261 10): which contacts an agent's AOR reaches, until when.

A binding is a contact URI plus the flow its REGISTER came on (transport and source address
after NAT), so a call to the agent can be sent to where the phone really is. Lapsed bindings
are never returned: an agent whose registration lapsed is not offered calls.

The registrar decides, the store applies: :meth:`BindingStore.update` runs a pure ``change``
function on an AOR's live bindings and stores its result atomically (in Redis with
WATCH/MULTI, retried on a concurrent write from another controller). The same ``change``
runs against :class:`MemoryBindingStore` in unit tests, so the rules live in one place.

Redis layout (see :mod:`callcenter.store.keys`):

- ``cc:reg:<aor>``: hash, contact URI → binding JSON; ``PEXPIREAT`` at its latest expiry, so
  an AOR whose bindings all lapsed vanishes on its own.
- ``cc:registered``: sorted set, AOR → latest expiry (Unix seconds); routing can ask "who is
  reachable now" in one ``ZRANGEBYSCORE``, or test one agent with ``ZSCORE`` in a Lua script.

-*- test-case-name: tests.integration.store.test_registrations -*-
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import WatchError

from callcenter.store import keys
from callcenter.store.link import RedisLink

log = logging.getLogger(__name__)

__all__ = [
    "Binding",
    "BindingStore",
    "Change",
    "MemoryBindingStore",
    "RedisBindingStore",
    "StoreConflictError",
]


@dataclass(frozen=True)
class Binding:
    """One contact of an AOR. ``contact`` is the Contact URI (the key within the AOR)."""

    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    transport: str
    """``"udp"`` or ``"tcp"``: the transport the REGISTER came on."""
    source_host: str
    """Where the REGISTER came from (``received``): requests to the agent go here."""
    source_port: int
    """``rport`` of the REGISTER (over TCP: the phone's connection)."""
    user_agent: str = ""
    q: str | None = None
    registered_at: float = 0.0

    def live(self, now: float) -> bool:
        return self.expires_at > now

    def remaining(self, now: float) -> int:
        """Whole seconds left, as the 200 OK reports them."""
        return max(0, math.ceil(self.expires_at - now - 1e-6))

    @property
    def source(self) -> tuple[str, int]:
        return (self.source_host, self.source_port)

    def to_json(self) -> str:
        data = asdict(self)
        del data["aor"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, aor: str, raw: str) -> Binding:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            aor=aor,
            contact=str(data["contact"]),
            expires_at=float(data["expires_at"]),
            call_id=str(data["call_id"]),
            cseq=int(data["cseq"]),
            transport=str(data["transport"]),
            source_host=str(data["source_host"]),
            source_port=int(data["source_port"]),
            user_agent=str(data.get("user_agent", "")),
            q=None if data.get("q") is None else str(data["q"]),
            registered_at=float(data.get("registered_at", 0.0)),
        )


Change = Callable[[list[Binding]], list[Binding]]
"""Given an AOR's live bindings, the complete list to store instead (may raise to abort)."""


class StoreConflictError(Exception):
    """Other writers kept changing the AOR; the update was not applied."""


class BindingStore(Protocol):
    async def current(self, aor: str, now: float) -> list[Binding]:
        """The AOR's live bindings (lapsed ones are left out)."""

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        """Apply ``change`` to the live bindings atomically; return what is stored now."""

    async def registered(self, now: float) -> list[str]:
        """AORs with at least one live binding."""


class MemoryBindingStore:
    """:class:`BindingStore` in a dict, for unit tests and single-process use without Redis."""

    def __init__(self) -> None:
        self.bindings: dict[str, dict[str, Binding]] = {}

    async def current(self, aor: str, now: float) -> list[Binding]:
        return _live(self.bindings.get(aor, {}).values(), now)

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        new = _live(change(await self.current(aor, now)), now)
        if new:
            self.bindings[aor] = {b.contact: b for b in new}
        else:
            self.bindings.pop(aor, None)
        return new

    async def registered(self, now: float) -> list[str]:
        return sorted(aor for aor, b in self.bindings.items() if _live(b.values(), now))


class RedisBindingStore:
    """:class:`BindingStore` in Redis (layout in the module docstring).

    Reads and updates go straight to Redis through :meth:`RedisLink.read`, which raises
    :class:`~callcenter.store.link.RedisUnavailableError` when Redis does not answer: a
    registration is only confirmed once it is stored.
    """

    def __init__(self, link: RedisLink, max_attempts: int = 20) -> None:
        self._link = link
        self._max_attempts = max_attempts

    async def current(self, aor: str, now: float) -> list[Binding]:
        raw = await self._link.read(lambda c: c.hgetall(keys.registration(aor)))
        return _decode(aor, raw, now)

    async def update(self, aor: str, change: Change, now: float) -> list[Binding]:
        key = keys.registration(aor)

        async def attempt(client: redis.Redis) -> list[Binding]:
            for tries in range(self._max_attempts):
                if tries:  # lost a race: back off a random moment so writers stop colliding
                    await asyncio.sleep(random.uniform(0, 0.002 * tries))
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.hgetall(key)
                        new = _live(change(_decode(aor, raw, now)), now)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.delete(key)
                        if new:
                            latest = max(b.expires_at for b in new)
                            pipe.hset(key, mapping={b.contact: b.to_json() for b in new})
                            pipe.pexpireat(key, math.ceil(latest * 1000))
                            pipe.zadd(keys.REGISTERED, {aor: latest})
                        else:
                            pipe.zrem(keys.REGISTERED, aor)
                        pipe.zremrangebyscore(keys.REGISTERED, "-inf", now)
                        await pipe.execute()
                        return new
                    except WatchError:
                        continue
            raise StoreConflictError(f"bindings of {aor!r} kept changing; update abandoned")

        return await self._link.read(attempt)

    async def registered(self, now: float) -> list[str]:
        members = await self._link.read(
            lambda c: c.zrangebyscore(keys.REGISTERED, f"({now!r}", "+inf")
        )
        return sorted(str(m) for m in members)


def _live(bindings: Iterable[Binding], now: float) -> list[Binding]:
    return [b for b in bindings if b.live(now)]


def _decode(aor: str, raw: dict[Any, Any], now: float) -> list[Binding]:
    out: list[Binding] = []
    for contact, value in raw.items():
        try:
            binding = Binding.from_json(aor, str(value))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("ignoring an unreadable binding of %r (%s): %s", aor, contact, exc)
            continue
        if binding.live(now):
            out.append(binding)
    return out
