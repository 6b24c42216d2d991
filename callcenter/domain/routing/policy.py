"""Routing policy: which agent gets a call, which call a freed agent takes.

This module is the reference implementation. The Redis adapter performs the
match (claim the agent + dequeue the call) as one Lua script so that two
controllers on one Redis never give an agent two calls; that script must
reproduce exactly the eligibility and ordering below, and the tests of
:func:`queue_score`, :func:`call_sort_key` and :func:`agent_sort_key` pin it.

Priority convention
-------------------
Caller priority is an integer 0..999 (``queues.MAX_PRIORITY``), 0 by default;
a HIGHER number is MORE urgent. Priority always beats wait time.

Ordering keys
-------------
Every key sorts ASCENDING: the smallest key is chosen. When the numbers tie,
the id decides, compared as bytes (Python ``str`` order equals UTF-8 byte
order), which is also how a Redis sorted set orders members of equal score.
``PRIORITY_SPAN`` = 1e10.

1. Calls within one queue, static, the score of the queue's sorted set::

       queue_score = entered_at - priority * 1e10          ties: call_id

   Higher priority first, then earlier arrival. Exact as long as arrivals in
   one queue lie less than 1e10 s apart; at priority 999 the score is about
   1e13, where doubles resolve 2 ms, so arrivals closer than that fall to the
   call id. A call returned by RONA, decline or logout keeps its
   ``entered_at`` and so goes back to the head of its priority band.

2. Calls across an agent's queues when it frees up, at time ``now``::

       call_rank = -(priority * 1e10 + (now - entered_at) * weight)
       key = (call_rank, call_id)

   Priority first; then wait weighted by the queue's ``weight`` (0 < weight
   <= 100, so weighted wait stays below 1e10 for any wait under 3 years).
   Within one queue this orders exactly as ``queue_score``, so the script
   walks each of the agent's queues from the head, keeps the first call the
   agent is eligible for, and compares those heads by ``key``.

3. Agents for a call in queue ``q`` with base requirements ``B`` (queue and
   IVR skills merged, before escalation)::

       key = (primary, idle_since, agent_id)
       longest-idle     primary = idle_since
       most-skilled     primary = -sum(level of s, 0 if the agent lacks it, for s in B)
       round-robin      primary = last_offered_in[q]   (0 = never offered in q)
       fewest-calls     primary = calls_taken
       least-talk-time  primary = talk_seconds

   A sorted set per queue and strategy scored by ``primary`` gives the
   candidates in order; among members with equal score the script must
   compare ``idle_since`` before falling back to member order.

Eligibility (all must hold; ``eligibility`` lists every one that fails):
agent registered; status available; member of the call's queue; not declined
this call within the queue's ``decline_retry_seconds``; every skill in the
effective requirements (``escalation.requirements_at``) held at or above its
minimum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from callcenter.domain.routing.agents import Agent, AgentSnapshot, AgentStats
from callcenter.domain.routing.decisions import (
    AgentConsidered,
    AgentDecision,
    AgentKey,
    AgentReason,
    CallConsidered,
    CallDecision,
    CallKey,
    CallReason,
    DecidedBy,
    LostOnScore,
    LostToCall,
)
from callcenter.domain.routing.eligibility import call_barriers, presence_barriers
from callcenter.domain.routing.escalation import requirements_at
from callcenter.domain.routing.queues import Queue, Strategy, WaitingCall

PRIORITY_SPAN = 1e10


def queue_score(call: WaitingCall) -> float:
    """Static position score of a call inside its queue (lower = nearer the head)."""
    return call.entered_at - call.priority * PRIORITY_SPAN


def weighted_wait(call: WaitingCall, queue: Queue, now: float) -> float:
    """Seconds waited times the queue's weight: how cross-queue fairness counts age."""
    return (now - call.entered_at) * queue.weight


def call_sort_key(call: WaitingCall, queue: Queue, now: float) -> CallKey:
    """Urgency of a call among all of an agent's queues (lower = more urgent)."""
    return CallKey(-(call.priority * PRIORITY_SPAN + weighted_wait(call, queue, now)), call.call_id)


def agent_sort_key(
    agent: Agent,
    stats: AgentStats,
    strategy: Strategy,
    queue: str,
    base_requirements: Mapping[str, int],
) -> AgentKey:
    """Rank of an eligible agent for a call of ``queue`` (lower = chosen first)."""
    match strategy:
        case Strategy.LONGEST_IDLE:
            primary = stats.idle_since
        case Strategy.MOST_SKILLED:
            primary = -float(sum(agent.skills.get(skill, 0) for skill in base_requirements))
        case Strategy.ROUND_ROBIN:
            primary = stats.offered_in(queue)
        case Strategy.FEWEST_CALLS:
            primary = float(stats.calls_taken)
        case Strategy.LEAST_TALK_TIME:
            primary = stats.talk_seconds
    return AgentKey(primary, stats.idle_since, agent.id)


def choose_agent(
    call: WaitingCall, queue: Queue, agents: Iterable[AgentSnapshot], now: float
) -> AgentDecision:
    """The best eligible agent for ``call`` under its queue's strategy, explained."""
    requirements = requirements_at(queue, call, now)
    rows: list[tuple[AgentSnapshot, AgentKey | None, tuple[AgentReason, ...]]] = []
    for agent in agents:
        barriers = presence_barriers(agent) + call_barriers(agent, call, queue, requirements, now)
        key = None
        if not barriers:
            key = agent_sort_key(
                agent.agent, agent.stats, queue.strategy, queue.name, requirements.base
            )
        rows.append((agent, key, barriers))
    keys = [key for _, key, _ in rows if key is not None]
    best = min(keys) if keys else None
    considered: list[AgentConsidered] = []
    for agent, key, reasons in rows:
        if key is not None and best is not None and key != best:
            reasons = (LostOnScore(queue.strategy, key, best.agent_id, best),)
        considered.append(AgentConsidered(agent.id, agent.state.status, key, reasons))
    considered.sort(key=lambda row: (row.key is None, row.key or (0.0, 0.0, ""), row.agent_id))
    return AgentDecision(
        call_id=call.call_id,
        queue=queue.name,
        at=now,
        strategy=queue.strategy,
        waited_seconds=call.waited(now),
        requirements=requirements,
        agent_id=None if best is None else best.agent_id,
        considered=tuple(considered),
    )


def choose_call(
    agent: AgentSnapshot,
    calls: Iterable[WaitingCall],
    queues: Mapping[str, Queue],
    now: float,
) -> CallDecision:
    """The most urgent waiting call ``agent`` is eligible for, across its queues, explained.

    ``calls`` are the calls waiting in the agent's queues (calls of other
    queues are reported as such); ``queues`` must hold every call's queue.
    """
    agent_reasons = presence_barriers(agent)
    rows: list[tuple[WaitingCall, Queue, CallKey | None, tuple[CallReason, ...]]] = []
    for call in calls:
        queue = queues.get(call.queue)
        if queue is None:
            raise ValueError(f"call {call.call_id} waits in unknown queue {call.queue}")
        barriers = call_barriers(agent, call, queue, requirements_at(queue, call, now), now)
        key = None if barriers else call_sort_key(call, queue, now)
        rows.append((call, queue, key, barriers))
    keys = [key for _, _, key, _ in rows if key is not None]
    best = min(keys) if keys and not agent_reasons else None
    winner = next((row for row in rows if best is not None and row[2] == best), None)
    considered: list[CallConsidered] = []
    for call, queue, key, reasons in rows:
        if key is not None and winner is not None and key != best:
            reasons = (_lost_to(call, queue, winner[0], winner[1], now),)
        considered.append(
            CallConsidered(
                call.call_id,
                queue.name,
                call.priority,
                call.waited(now),
                queue.weight,
                key,
                reasons,
            )
        )
    considered.sort(key=lambda row: (row.key is None, row.key or (0.0, ""), row.call_id))
    return CallDecision(
        agent_id=agent.id,
        at=now,
        call_id=None if best is None else best.call_id,
        agent_reasons=agent_reasons,
        considered=tuple(considered),
    )


def _lost_to(
    call: WaitingCall, queue: Queue, winner: WaitingCall, winner_queue: Queue, now: float
) -> LostToCall:
    ours, theirs = weighted_wait(call, queue, now), weighted_wait(winner, winner_queue, now)
    decided_by: DecidedBy
    if call.priority != winner.priority:
        decided_by = "priority"
    elif call_sort_key(call, queue, now).rank != call_sort_key(winner, winner_queue, now).rank:
        decided_by = "weighted-wait"
    else:
        decided_by = "call-id"
    return LostToCall(winner.call_id, decided_by, call.priority, winner.priority, ours, theirs)
