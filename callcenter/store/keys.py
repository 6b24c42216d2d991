"""Every Redis key the service uses, in one place, so the layout can be read (and changed) here."""

from __future__ import annotations

PREFIX = "cc:"
EVENTS = PREFIX + "events"  # Stream: the event log (schema in README, "Events")
CALLS_RECENT = PREFIX + "calls:recent"  # Sorted set: call id scored by arrival time
CALLS_ACTIVE = PREFIX + "calls:active"  # Set: call ids in progress


def call(call_id: str) -> str:
    """String: the call record as JSON."""
    return f"{PREFIX}call:{call_id}"


REGISTERED = PREFIX + "registered"  # Sorted set: AOR scored by its latest binding expiry


def registration(aor: str) -> str:
    """Hash: an AOR's bindings, contact URI → binding as JSON (expires with its last one)."""
    return f"{PREFIX}reg:{aor}"
