"""A live snapshot of routing: every queue's waiting calls and agents, every agent's state.

Read from the routing state in Redis (the same keys the atomic match uses), so the wallboard,
``GET /api/queues`` and the metrics all show what routing sees. It is re-read on every event
of a busy centre, so it must be cheap at hundreds of agents and queues. With redis-py's
pure-Python reply parser the time goes on parsing thousands of small replies (a pipelined
read of 500 agents and 200 queues took ~90 ms), so one read-only Lua script gathers exactly
the fields shown (per agent the state fields of its record, its name and queues, its
registration; per queue its waiting set's scores) and hands them back as one JSON document,
decoded in C: a few milliseconds. Each queue's longest wait follows from the scores
(:func:`~callcenter.domain.wallboard.entered_at_of`) without reading the calls themselves.
Key names are built in the script from ``keys.PREFIX`` exactly as ``keys.py`` builds them, as
the routing scripts do.

-*- test-case-name: tests.integration.live.test_snapshot -*-
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.domain.wallboard import AgentLive, QueueLive, entered_at_of, live_queues
from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.routing.codec import STATE_FIELDS, decode_state
from callcenter.store.routing.state import RoutingState

log = logging.getLogger(__name__)

# ARGV: prefix, then the queue names. Returns JSON: {"agents": [[id, <STATE_FIELDS...>, name,
# queues json, registered until], ...], "queues": {name: [score, ...]}}; a missing field is
# false. Scores and times stay strings, so no digit is lost to cjson's number formatting.
LIVE_SNAPSHOT = """
local prefix = ARGV[1]
local agents = {}
for _, id in ipairs(redis.call('SMEMBERS', prefix .. 'agents')) do
  local row = redis.call('HMGET', prefix .. 'agent:' .. id,
    'status', 'since', 'reason', 'call_id', 'queue', 'wrap_up_until')
  local config = redis.call('HMGET', prefix .. 'agent-config:' .. id, 'name', 'queues')
  local entry = {id}
  for i = 1, 6 do entry[i + 1] = row[i] end
  entry[8] = config[1]
  entry[9] = config[2]
  entry[10] = redis.call('ZSCORE', prefix .. 'agents:registered', id)
  agents[#agents + 1] = entry
end
local queues = {}
for i = 2, #ARGV do
  local scores = {}
  local flat = redis.call('ZRANGE', prefix .. 'rq-waiting:' .. ARGV[i], 0, -1, 'WITHSCORES')
  for j = 2, #flat, 2 do scores[#scores + 1] = flat[j] end
  queues[ARGV[i]] = scores
end
return cjson.encode({agents = agents, queues = queues})
"""
assert len(STATE_FIELDS) == 6  # the script reads these six, in this order


@dataclass(frozen=True)
class LiveSnapshot:
    """Queues (by name, sorted) and agents (by id, sorted) at ``taken_at``."""

    taken_at: float
    queues: Mapping[str, QueueLive]
    agents: Mapping[str, AgentLive]


class LiveReader:
    """Reads :class:`LiveSnapshot` s; raises ``RedisUnavailableError`` when Redis is gone.

    The queues are the ones this controller routes (``RoutingState.queues``, from its config).
    """

    def __init__(self, link: RedisLink, state: RoutingState) -> None:
        self._link = link
        self._state = state
        self._script = link.client.register_script(LIVE_SNAPSHOT)

    async def read(self, now: float) -> LiveSnapshot:
        names = sorted(self._state.queues)
        args = [keys.PREFIX, *names]
        raw = await self._link.read(lambda client: self._script(args=args, client=client))
        found: dict[str, Any] = json.loads(raw)
        rows = [_agent(entry, now) for entry in found["agents"] or []]
        agents = sorted((a for a in rows if a is not None), key=lambda a: a.id)
        waiting = found["queues"] or {}
        entered = {n: [entered_at_of(float(s)) for s in waiting.get(n) or ()] for n in names}
        queues = live_queues(entered, agents)
        return LiveSnapshot(taken_at=now, queues=queues, agents={a.id: a for a in agents})


def _agent(entry: list[Any], now: float) -> AgentLive | None:
    agent_id = str(entry[0])
    state = [None if value is False else str(value) for value in entry[1:7]]
    name, queues, until = (None if value is False else value for value in entry[7:10])
    if state[0] is None:  # configured meanwhile, or removed: not on the board yet
        return None
    try:
        decoded = decode_state(dict(zip(STATE_FIELDS, state, strict=True)))
        queue_names = tuple(str(q) for q in json.loads(queues)) if queues else ()
    except ValueError as exc:  # a corrupt record must not blank the whole board
        log.error("agent %s: unreadable record left off the wallboard: %s", agent_id, exc)
        return None
    return AgentLive(
        id=agent_id,
        name=str(name) if name else agent_id,
        status=decoded.status,
        reason=decoded.reason,
        since=decoded.since,
        registered=until is not None and float(until) > now,
        call_id=decoded.call_id,
        queue=decoded.queue,
        queues=queue_names,
    )
