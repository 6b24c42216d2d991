"""Every Redis key the service uses, in one place, so the layout can be read (and changed) here."""

from __future__ import annotations

PREFIX = "cc:"
EVENTS = PREFIX + "events"  # Stream: the event log (schema in README, "Events")
CALLS_RECENT = PREFIX + "calls:recent"  # Sorted set: call id scored by arrival time
CALLS_ACTIVE = PREFIX + "calls:active"  # Set: call ids in progress


def call(call_id: str) -> str:
    """String: the call record as JSON."""
    return f"{PREFIX}call:{call_id}"
