"""``agent.state`` events: every agent state change appended to the event log.

The routing store tells each stored change (``RoutingState.on_state_change``), whichever
path made it: REST, feature codes, the call path, or a Lua claim. Consumers (KPIs, the
wallboard, call history) read agents' time in each state from these events alone.

Schema (README "Events"): ``call_id`` is the call the change concerns (the one ringing,
talked on or just wrapped up), ``""`` for none; data ``{agent, status, previous, reason, call,
queue, since}`` with ``queue`` that call's queue and ``since`` the instant of the change as the
state machine stamped it (the entry's ``at`` is when it was appended, a few ms later).

-*- test-case-name: tests.integration.store.test_agent_state_events -*-
"""

from __future__ import annotations

from typing import Any, Protocol

from callcenter.domain.routing import AgentStateChanged

EVENT_TYPE = "agent.state"


class EventSink(Protocol):
    def append(self, event_type: str, call_id: str, **data: Any) -> None: ...


def event_data(change: AgentStateChanged) -> dict[str, Any]:
    """The ``data`` of one ``agent.state`` event."""
    return {
        "agent": change.agent_id,
        "status": change.new.value,
        "previous": change.old.value,
        "reason": change.reason,
        "call": change.call_id,
        "queue": change.queue,
        "since": change.at,
    }


class AgentStateJournal:
    """A ``RoutingState.on_state_change`` listener appending ``agent.state`` events."""

    def __init__(self, events: EventSink) -> None:
        self._events = events

    def __call__(self, change: AgentStateChanged) -> None:
        self._events.append(EVENT_TYPE, change.call_id or "", **event_data(change))
