"""Every Redis key the service uses, in one place, so the layout can be read (and changed) here."""

from __future__ import annotations

PREFIX = "cc:"
EVENTS = PREFIX + "events"  # Stream: the event log (schema in README, "Events")
CALLS_RECENT = PREFIX + "calls:recent"  # Sorted set: call id scored by arrival time
CALLS_ACTIVE = PREFIX + "calls:active"  # Set: call ids in progress
AUDIT = PREFIX + "audit"  # List: supervisors' recent actions as JSON, newest first, capped


def call(call_id: str) -> str:
    """String: the call record as JSON."""
    return f"{PREFIX}call:{call_id}"


REGISTERED = PREFIX + "registered"  # Sorted set: AOR scored by its latest binding expiry


def registration(aor: str) -> str:
    """Hash: an AOR's bindings, contact URI → binding as JSON (expires with its last one)."""
    return f"{PREFIX}reg:{aor}"


# Routing (callcenter.store.routing). The Lua scripts in callcenter/store/lua build the same
# names from PREFIX (passed in as their first argument): keep both in step.
AGENTS = PREFIX + "agents"  # Set: ids of configured agents
AGENTS_REGISTERED = PREFIX + "agents:registered"  # Sorted set: agent id → registered until
ROUTING_QUEUES = PREFIX + "rqs"  # Set: names of configured routing queues


def agent(agent_id: str) -> str:
    """Hash: the agent's live record (state and stats), see ``routing.codec``."""
    return f"{PREFIX}agent:{agent_id}"


def agent_skills(agent_id: str) -> str:
    """Hash: skill → level (config-derived)."""
    return f"{PREFIX}agent-skills:{agent_id}"


def agent_config(agent_id: str) -> str:
    """Hash: name, sip_username, queues (JSON list), config-derived."""
    return f"{PREFIX}agent-config:{agent_id}"


def agent_edits(agent_id: str) -> str:
    """Hash: supervisors' runtime edits (skills, queues as JSON); they win over the config."""
    return f"{PREFIX}agent-edits:{agent_id}"


def routing_queue(name: str) -> str:
    """Hash: a queue's routing config (strategy, weight, decline_retry, skills, steps)."""
    return f"{PREFIX}rq:{name}"


def queue_members(name: str) -> str:
    """Set: ids of the agents serving the queue."""
    return f"{PREFIX}rq-members:{name}"


def queue_available(name: str) -> str:
    """Sorted set: available member agents scored by the queue strategy's primary key."""
    return f"{PREFIX}rq-available:{name}"


def queue_waiting(name: str) -> str:
    """Sorted set: waiting call ids scored by ``policy.queue_score``."""
    return f"{PREFIX}rq-waiting:{name}"


def waiting_call(call_id: str) -> str:
    """Hash: a queued call (queue, priority, entered_at, score, skills, d:<agent>, agent)."""
    return f"{PREFIX}wait:{call_id}"


def event_seen(event_id: str) -> str:
    """String with a TTL: this event is already in the stream (replay guard)."""
    return f"{PREFIX}event-seen:{event_id}"


def call_owner(call_id: str) -> str:
    """String: the id of the controller holding this caller (offers are handed to it)."""
    return f"{PREFIX}call-owner:{call_id}"


def controller_front(controller_id: str) -> str:
    """String: ``host:port`` of that controller's SIP front (supervisors are redirected there
    to monitor a conversation it holds)."""
    return f"{PREFIX}controller-front:{controller_id}"


def offers_channel(controller_id: str) -> str:
    """Pub/sub channel: matches another controller made for this controller's callers."""
    return f"{PREFIX}offers:{controller_id}"


def handle_times(queue: str) -> str:
    """List: the queue's recent handle times in seconds (talk + wrap-up), newest first, capped."""
    return f"{PREFIX}rq-handle:{queue}"
