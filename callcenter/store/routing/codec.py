"""Routing values as flat Redis hash fields, and back.

Hashes rather than JSON documents because the Lua match scripts read and write single fields
(``status``, ``idle_since``, ``offered:<queue>``) without decoding a whole document. Floats
are written with ``repr`` so they come back bit-for-bit: the scripts compare these numbers
with the ones the Python policy computes, and a rounded epoch time could flip a tie.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentState,
    AgentStats,
    Queue,
    Status,
    WaitingCall,
    queue_score,
)
from callcenter.domain.routing.edits import AgentEdits

OFFERED = "offered:"  # record field prefix: last_offered_in[queue]
DECLINED = "d:"  # waiting-call field prefix: declined[agent]


def num(value: float) -> str:
    """A float as the exact decimal string Redis and Lua parse back to the same double."""
    return repr(float(value))


def record_fields(record: AgentRecord) -> dict[str, str]:
    state, stats = record.state, record.stats
    fields = {
        "status": state.status.value,
        "since": num(state.since),
        "idle_since": num(stats.idle_since),
        "calls_taken": str(stats.calls_taken),
        "talk_seconds": num(stats.talk_seconds),
        "last_offered_at": num(stats.last_offered_at),
    }
    if state.reason is not None:
        fields["reason"] = state.reason
    if state.call_id is not None:
        fields["call_id"] = state.call_id
    if state.queue is not None:
        fields["queue"] = state.queue
    if state.wrap_up_until is not None:
        fields["wrap_up_until"] = num(state.wrap_up_until)
    for queue, at in stats.last_offered_in.items():
        fields[OFFERED + queue] = num(at)
    return fields


#: The record fields that make up an :class:`AgentState`, for readers that want only the
#: state (``HMGET`` of these is a third of a whole record on the wire: the live wallboard).
STATE_FIELDS = ("status", "since", "reason", "call_id", "queue", "wrap_up_until")


def decode_state(fields: Mapping[str, str | None]) -> AgentState:
    """The state part of a record; a corrupt one raises (``AgentState`` checks invariants)."""
    wrap = fields.get("wrap_up_until")
    status, since = fields.get("status"), fields.get("since")
    if status is None or since is None:
        raise ValueError("an agent record needs `status` and `since`")
    return AgentState(
        Status(status),
        float(since),
        reason=fields.get("reason"),
        call_id=fields.get("call_id"),
        queue=fields.get("queue"),
        wrap_up_until=None if wrap is None else float(wrap),
    )


def decode_record(agent_id: str, fields: Mapping[str, str]) -> AgentRecord:
    """The record from its hash; a corrupt one raises (``AgentState`` checks its invariants)."""
    state = decode_state(fields)
    stats = AgentStats(
        idle_since=float(fields["idle_since"]),
        calls_taken=int(fields["calls_taken"]),
        talk_seconds=float(fields["talk_seconds"]),
        last_offered_at=float(fields["last_offered_at"]),
        last_offered_in={
            name[len(OFFERED) :]: float(value)
            for name, value in fields.items()
            if name.startswith(OFFERED)
        },
    )
    return AgentRecord(agent_id, state, stats)


def config_fields(agent: Agent) -> dict[str, str]:
    return {
        "name": agent.name,
        "sip_username": agent.sip_username,
        "queues": json.dumps(list(agent.queues)),
    }


def decode_agent(agent_id: str, config: Mapping[str, str], skills: Mapping[str, str]) -> Agent:
    return Agent(
        agent_id,
        config.get("name", agent_id),
        config.get("sip_username", ""),
        {skill: int(level) for skill, level in skills.items()},
        list(json.loads(config.get("queues", "[]"))),
    )


def queue_fields(queue: Queue) -> dict[str, str]:
    """What the scripts need of a queue: eligibility, escalation and cross-queue weight."""
    steps = [
        {
            "after": step.after_seconds,
            "drop": sorted(step.drop),
            "min_levels": dict(step.min_levels),
            "lower_by": step.lower_by,
        }
        for step in queue.escalation
    ]
    return {
        "strategy": queue.strategy.value,
        "weight": num(queue.weight),
        "decline_retry": num(queue.decline_retry_seconds),
        "skills": json.dumps(dict(queue.skills), sort_keys=True),
        "steps": json.dumps(steps, sort_keys=True),
    }


def call_fields(call: WaitingCall) -> dict[str, str]:
    fields = {
        "queue": call.queue,
        "priority": str(call.priority),
        "entered_at": num(call.entered_at),
        "score": num(queue_score(call)),
        "skills": json.dumps(dict(call.skills), sort_keys=True),
    }
    for agent_id, at in call.declined.items():
        fields[DECLINED + agent_id] = num(at)
    return fields


def decode_call(call_id: str, fields: Mapping[str, str]) -> WaitingCall:
    return WaitingCall(
        call_id,
        fields["queue"],
        int(fields["priority"]),
        float(fields["entered_at"]),
        {skill: int(level) for skill, level in json.loads(fields["skills"]).items()},
        {
            name[len(DECLINED) :]: float(value)
            for name, value in fields.items()
            if name.startswith(DECLINED)
        },
    )


def edits_fields(edits: AgentEdits) -> dict[str, str]:
    fields = {}
    if edits.skills is not None:
        fields["skills"] = json.dumps(dict(edits.skills), sort_keys=True)
    if edits.queues is not None:
        fields["queues"] = json.dumps(list(edits.queues))
    return fields


def decode_edits(fields: Mapping[str, str]) -> AgentEdits:
    skills = fields.get("skills")
    queues = fields.get("queues")
    return AgentEdits(
        None if skills is None else {s: int(level) for s, level in json.loads(skills).items()},
        None if queues is None else tuple(str(q) for q in json.loads(queues)),
    )
