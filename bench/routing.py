"""Routing decision latency: the match Lua scripts on a loaded floor in a real redis-server.

Floor: ``--agents`` agents (default 1,000) in 5 of ``--queues`` queues (default 100) each,
4 skills at levels 3-10; queues cycle through the five strategies, require one skill at 1-5
and half of them have two escalation steps; ``--calls`` calls (default 10,000) wait, spread
over the last ten minutes, a tenth with priority. A tenth of the agents is available, the
rest paused (the pool the agent phase draws from).

Two phases of ``--decisions`` decisions each, timed around the awaited call (so including
the client round trip on loopback); the untimed bookkeeping between decisions keeps the
floor steady (10,000 waiting, a tenth available):

- **match_call**: a new call arrives in a random queue and is matched to an agent;
- **match_agent**: a paused agent becomes ready and takes the most urgent call it can
  across its queues (walking at most 50 per queue).

Each decision is also timed inside Redis (the slow log switched on to record every command
around each timed decision only, then filtered by the script's SHA), which leaves out the
client and the machine's other load.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentState,
    AgentStats,
    Answer,
    EscalationStep,
    Hangup,
    Pause,
    Queue,
    Ready,
    Status,
    Strategy,
    WaitingCall,
)
from callcenter.store.link import RedisLink
from callcenter.store.routing import Match, RoutingState
from callcenter.store.routing.scripts import source
from tests.support.redis_server import running_redis

SKILLS = [f"s{n}" for n in range(10)]
STRATEGIES = list(Strategy)


@dataclass
class Phase:
    name: str
    latencies: list[float]
    hits: int
    server: list[float]

    def lines(self) -> list[str]:
        return [
            f"{self.name:<12} decisions {len(self.latencies):>5}  matched {self.hits:>5}",
            f"  client (round trip): {_figures(self.latencies)}",
            f"  in Redis (script):   {_figures(self.server)}",
        ]


def _figures(seconds: list[float]) -> str:
    if not seconds:
        return "no samples"
    ordered = sorted(seconds)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {pct(0.50):.3f} ms  p99 {pct(0.99):.3f} ms  max {ordered[-1] * 1000:.3f} ms  "
        f"mean {statistics.fmean(ordered) * 1000:.3f} ms"
    )


class Floor:
    """The loaded floor and the untimed moves that keep it steady between decisions."""

    def __init__(self, state: RoutingState, rng: random.Random, queues: int) -> None:
        self.state, self.rng, self.queues = state, rng, queues
        self.paused: list[str] = []
        self.serial = 0

    def new_call(self, now: float, age: float = 0.0) -> WaitingCall:
        self.serial += 1
        skills = (
            {self.rng.choice(SKILLS): self.rng.randint(1, 3)} if self.rng.random() < 0.2 else {}
        )
        priority = 1 if self.rng.random() < 0.1 else 0
        queue = f"q{self.rng.randrange(self.queues)}"
        return WaitingCall(f"call{self.serial}", queue, priority, now - age, skills)

    async def finish(self, match: Match, now: float, pause: bool) -> None:
        """The offered agent answers and hangs up at once; optionally pauses again."""
        await self.state.apply(match.agent_id, Answer(match.call_id), now)
        await self.state.apply(match.agent_id, Hangup(match.call_id, 0), now)
        if pause:
            await self.state.apply(match.agent_id, Pause("bench"), now)
            self.paused.append(match.agent_id)


async def build(
    state: RoutingState, rng: random.Random, agents: int, queues: int, calls: int
) -> Floor:
    now = time.time()
    configs = []
    for n in range(queues):
        steps = (
            [EscalationStep(30, lower_by=1), EscalationStep(120, drop={f"s{n % 10}"})]
            if n % 2
            else []
        )
        configs.append(
            Queue(
                f"q{n}",
                {f"s{n % 10}": rng.randint(1, 5)},
                STRATEGIES[n % len(STRATEGIES)],
                weight=rng.choice([1.0, 2.0]),
                escalation=steps,
            )
        )
    await state.configure_queues(configs)
    floor = Floor(state, rng, queues)
    for n in range(agents):
        agent_id = f"agent{n:04d}"
        skills = {s: rng.randint(3, 10) for s in rng.sample(SKILLS, 4)}
        mine = [f"q{q}" for q in rng.sample(range(queues), min(5, queues))]
        await state.put_agent(Agent(agent_id, agent_id, agent_id, skills, mine), now)
        available = n % 10 == 0
        status = (
            AgentState(Status.AVAILABLE, now)
            if available
            else AgentState(Status.PAUSED, now, reason="bench")
        )
        stats = AgentStats(
            idle_since=now - rng.uniform(0, 3600),
            calls_taken=rng.randint(0, 40),
            talk_seconds=rng.uniform(0, 7200),
            last_offered_in={q: now - rng.uniform(0, 3600) for q in mine},
        )
        await state.store_record(AgentRecord(agent_id, status, stats))
        await state.set_registered(agent_id, now + 86400)
        if not available:
            floor.paused.append(agent_id)
    for _ in range(calls):
        await state.enqueue(floor.new_call(now, age=rng.uniform(0, 600)))
    return floor


async def start_slowlog(state: RoutingState) -> None:
    """Have Redis log the duration of every command (cleared now)."""
    client = state._link.client
    await client.config_set("slowlog-max-len", 100_000)
    await client.slowlog_reset()


async def logging_commands(state: RoutingState, on: bool) -> None:
    """Log every command (on) or none (off): only the timed decisions are logged."""
    await state._link.client.config_set("slowlog-log-slower-than", 0 if on else -1)


async def script_durations(state: RoutingState, script: str) -> list[float]:
    """Seconds each run of ``script`` took inside Redis since :func:`start_slowlog`."""
    sha = hashlib.sha1(source(script).encode()).hexdigest()
    reader = redis.Redis.from_url(state._link.url, socket_timeout=60)
    entries: list[Any] = await reader.slowlog_get(200_000)
    await reader.aclose()
    out = []
    for entry in entries:
        command = entry["command"]
        text = command.decode() if isinstance(command, bytes) else str(command)
        if text.startswith(f"EVALSHA {sha}"):
            out.append(entry["duration"] / 1e6)
    return out


async def phase_match_call(floor: Floor, decisions: int) -> Phase:
    latencies, hits = [], 0
    await start_slowlog(floor.state)
    for _ in range(decisions):
        now = time.time()
        call = floor.new_call(now)
        await floor.state.enqueue(call)
        await logging_commands(floor.state, True)
        started = time.perf_counter()
        match = await floor.state.match_call(call.call_id, now)
        latencies.append(time.perf_counter() - started)
        await logging_commands(floor.state, False)
        if match is not None:
            hits += 1
            await floor.finish(match, now, pause=False)
        else:
            await floor.state.remove(call.call_id)  # keep the waiting count steady
    return Phase("match_call", latencies, hits, await script_durations(floor.state, "match_call"))


async def phase_match_agent(floor: Floor, decisions: int) -> Phase:
    latencies, hits = [], 0
    await start_slowlog(floor.state)
    for _ in range(decisions):
        now = time.time()
        agent_id = floor.paused.pop(floor.rng.randrange(len(floor.paused)))
        await floor.state.apply(agent_id, Ready(), now)
        await logging_commands(floor.state, True)
        started = time.perf_counter()
        match = await floor.state.match_agent(agent_id, now)
        latencies.append(time.perf_counter() - started)
        await logging_commands(floor.state, False)
        if match is not None:
            hits += 1
            await floor.finish(match, now, pause=True)
            await floor.state.enqueue(floor.new_call(now, age=floor.rng.uniform(0, 600)))
        else:
            await floor.state.apply(agent_id, Pause("bench"), now)
            floor.paused.append(agent_id)
    server = await script_durations(floor.state, "match_agent")
    return Phase("match_agent", latencies, hits, server)


async def _run(url: str, agents: int, queues: int, calls: int, decisions: int) -> list[str]:
    link = RedisLink(url)
    await link.connect()
    state = RoutingState(link)
    started = time.perf_counter()
    floor = await build(state, random.Random(42), agents, queues, calls)
    waiting = sum([len(await state.waiting(f"q{n}")) for n in range(queues)])
    lines = [
        f"floor: {agents} agents, {queues} queues, {waiting} waiting calls "
        f"(built in {time.perf_counter() - started:.1f} s)"
    ]
    for phase in (phase_match_call, phase_match_agent):
        lines += (await phase(floor, decisions)).lines()
    info = await link.client.info("server")
    lines.append(f"redis-server {info.get('redis_version')} on loopback, one client connection")
    await link.close()
    return lines


def run(
    agents: int = 1000, queues: int = 100, calls: int = 10_000, decisions: int = 3000
) -> list[str]:
    """Build the floor in a fresh redis-server and return the report lines."""
    with tempfile.TemporaryDirectory() as tmp, running_redis(Path(tmp) / "redis") as server:
        return asyncio.run(_run(server.url, agents, queues, calls, decisions))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown CPU"
