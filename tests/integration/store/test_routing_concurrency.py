"""Two controller processes hammer one Redis: never one agent with two calls, or the reverse.

Each controller (a separate OS process running this module) enqueues calls, matches calls
to agents and agents to calls, and plays the offers it claimed through answer, hang-up,
no-answer, decline and caller hang-up, while both pause and ready random agents. On every
claim it takes audit locks ``audit:agent:<id>`` and ``audit:call:<id>`` with SET NX, and
releases them only just before the transition that frees them; a claim whose lock is still
held by the other claim is a double allocation. The parent then checks the stored state.

Logout is left out on purpose: it may withdraw an offer the *other* controller owns, which
is correct routing but would leave that controller's audit lock behind.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter

import pytest_twisted

from callcenter.aio import as_deferred
from callcenter.domain.routing import (
    Answer,
    CancelOffer,
    Decline,
    Hangup,
    NoAnswer,
    Pause,
    Queue,
    Ready,
    Status,
    Strategy,
    TransitionError,
    WaitingCall,
)
from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.routing import Match, RoutingState
from tests.integration.store.test_routing_kit import agent, open_state, record, seat
from tests.support.redis_server import RedisServer

QUEUES = [
    Queue("q0", strategy=Strategy.LONGEST_IDLE),
    Queue("q1", {"fr": 3}, Strategy.ROUND_ROBIN, weight=2.0),
    Queue("q2", {"en": 5}, Strategy.MOST_SKILLED),
]
AGENTS = 16
OPS = 5000


def _agents() -> list[tuple[str, dict[str, int], list[str]]]:
    rng = random.Random(7)
    return [
        (
            f"ag{n}",
            {"fr": rng.randint(1, 10), "en": rng.randint(1, 10)},
            rng.sample(["q0", "q1", "q2"], rng.randint(1, 3)),
        )
        for n in range(AGENTS)
    ]


class Controller:
    """One simulated controller; owns the offers it claimed."""

    def __init__(self, name: str, state: RoutingState, link: RedisLink, seed: int) -> None:
        self.name, self.state, self.client = name, state, link.client
        self.rng = random.Random(seed)
        self.held: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.violations: list[str] = []

    async def claimed(self, match: Match | None) -> None:
        if match is None:
            return
        self.counts["matches"] += 1
        lock = f"{self.name}:{match.call_id}:{match.agent_id}"
        if not await self.client.set(f"audit:agent:{match.agent_id}", lock, nx=True):
            other = await self.client.get(f"audit:agent:{match.agent_id}")
            self.violations.append(f"agent {match.agent_id} claimed by {lock} and {other!s}")
        if not await self.client.set(f"audit:call:{match.call_id}", lock, nx=True):
            other = await self.client.get(f"audit:call:{match.call_id}")
            self.violations.append(f"call {match.call_id} claimed by {lock} and {other!s}")
        self.held[match.agent_id] = match.call_id

    async def release(self, agent_id: str) -> str:
        call_id = self.held.pop(agent_id)
        await self.client.delete(f"audit:agent:{agent_id}", f"audit:call:{call_id}")
        return call_id

    async def step(self, n: int) -> None:
        now, roll = time.time(), self.rng.random()
        if roll < 0.3:
            call = WaitingCall(
                f"{self.name}-{n}",
                self.rng.choice(["q0", "q1", "q2"]),
                self.rng.choice([0, 1]),
                now,
            )
            await self.state.enqueue(call)
            await self.claimed(await self.state.match_call(call.call_id, now))
        elif roll < 0.55:
            await self.claimed(await self.state.match_agent(f"ag{self.rng.randrange(AGENTS)}", now))
        elif roll < 0.85 and self.held:
            await self.finish_offer(self.rng.choice(sorted(self.held)), now)
        else:
            command = Ready() if self.rng.random() < 0.8 else Pause("coffee")
            agent_id = f"ag{self.rng.randrange(AGENTS)}"
            try:
                await self.state.apply(agent_id, command, now)
                self.counts[type(command).__name__] += 1
            except TransitionError:
                self.counts["refused"] += 1
                return
            if isinstance(command, Ready):
                await self.claimed(await self.state.match_agent(agent_id, now))

    async def finish_offer(self, agent_id: str, now: float) -> None:
        call_id = self.held[agent_id]
        outcome = self.rng.choice(["answer", "answer", "rona", "decline", "cancel"])
        self.counts[outcome] += 1
        if outcome == "answer":
            await self.state.apply(agent_id, Answer(call_id), now)
            await self.release(agent_id)
            await self.state.apply(agent_id, Hangup(call_id, 0), now)
            await self.claimed(await self.state.match_agent(agent_id, now))
            return
        await self.release(agent_id)
        if outcome == "rona":
            await self.state.apply(agent_id, NoAnswer(call_id), now)
        elif outcome == "decline":
            await self.state.apply(agent_id, Decline(call_id), now)
        else:
            await self.state.remove(call_id)
            await self.state.apply(agent_id, CancelOffer(call_id), now)
        await self.claimed(await self.state.match_call(call_id, now))


async def controller_main(url: str, name: str, seed: int, ops: int) -> dict[str, object]:
    link, state = await open_state(url, QUEUES)
    controller = Controller(name, state, link, seed)
    for n in range(ops):
        await controller.step(n)
    await link.close()
    return {"counts": dict(controller.counts), "violations": controller.violations}


async def _check_state(state: RoutingState) -> list[str]:
    """Stored state is consistent: one call per agent and the reverse, indexes in step."""
    problems: list[str] = []
    client = state._link.client
    records = await state.load_agents()
    holders: dict[str, str] = {}
    for agent_id, rec in records.items():
        call_id = rec.state.call_id
        if rec.state.status in (Status.RESERVED, Status.ON_CALL) and call_id is not None:
            if call_id in holders:
                problems.append(f"{call_id} held by {holders[call_id]} and {agent_id}")
            holders[call_id] = agent_id
    for agent_id, config, queues in _agents():
        del config
        status = records[agent_id].state.status
        for queue in queues:
            listed = await client.zscore(keys.queue_available(queue), agent_id) is not None
            if listed != (status is Status.AVAILABLE):
                problems.append(f"{agent_id} {status} but listed={listed} in {queue}")
    for queue in ("q0", "q1", "q2"):
        for waiting in await state.waiting(queue):
            if waiting.call_id in holders:
                problems.append(f"{waiting.call_id} queued and held by {holders[waiting.call_id]}")
    return problems


@pytest_twisted.ensureDeferred
async def test_two_controllers_never_double_allocate(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        link, state = await open_state(redis_server.url, QUEUES)
        await seat(
            state,
            [(agent(i, skills, queues), record(i)) for i, skills, queues in _agents()],
            registered_until=time.time() + 3600,
        )
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", __name__, redis_server.url, name, str(seed), str(OPS)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for name, seed in (("A", 1), ("B", 2))
        ]
        while any(w.poll() is None for w in workers):
            await asyncio.sleep(0.1)
        reports = [json.loads(w.communicate()[0]) for w in workers]
        assert [w.returncode for w in workers] == [0, 0]
        for report in reports:
            assert report["violations"] == []
        matches = sum(report["counts"]["matches"] for report in reports)
        assert matches >= 2500, reports
        assert all(report["counts"]["rona"] and report["counts"]["decline"] for report in reports)
        assert await _check_state(state) == []
        await link.close()

    await as_deferred(scenario())


if __name__ == "__main__":
    url, name, seed, ops = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(controller_main(url, name, seed, ops))))
