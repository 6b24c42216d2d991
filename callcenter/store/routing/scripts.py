"""The routing Lua scripts, read from ``callcenter/store/lua`` and registered on a client.

Redis 6.2 scripts cannot include one another, so ``common.lua`` (key names, eligibility,
escalation, the claim) is prepended to each script here. ``register_script`` runs them by
SHA and reloads them by itself after a Redis restart (NOSCRIPT).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import redis.asyncio as redis
from redis.commands.core import AsyncScript

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"


@cache
def source(name: str) -> str:
    """``common.lua`` followed by ``<name>.lua``."""
    return (LUA_DIR / "common.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Scripts:
    match_call: AsyncScript
    match_agent: AsyncScript
    enqueue: AsyncScript
    remove_call: AsyncScript
    requeue_call: AsyncScript

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(
            **{
                name: client.register_script(source(name))
                for name in ("match_call", "match_agent", "enqueue", "remove_call", "requeue_call")
            }
        )
