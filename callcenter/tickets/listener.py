"""The history writer's finished-call listener: queues the ticket of a call that needs one.

It runs inside the transaction that first writes the call's end, so the call and its ticket
request are committed together: a crash either loses both (the history replays the events
and the listener runs again) or keeps both; never a finished call without its ticket.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Connection

from callcenter.domain.history import CallSummary
from callcenter.domain.tickets import TicketRules, build_ticket, wants_ticket
from callcenter.history.tables import call_events
from callcenter.tickets.outbox import enqueue_create

RECORDING_EVENTS = ("recording.started", "recording.saved")


class TicketListener:
    def __init__(self, rules: TicketRules, clock: Callable[[], float] = time.time) -> None:
        self._rules = rules
        self._clock = clock

    def __call__(self, connection: Connection, summary: CallSummary) -> None:
        if not wants_ticket(summary):
            return
        if summary.recording_url is None and _was_recorded(connection, summary.call_id):
            # The recording is saved after the call ends; its address is known already.
            summary = dataclasses.replace(
                summary, recording_url=f"/api/recordings/{summary.call_id}/audio"
            )
        enqueue_create(connection, build_ticket(summary, self._rules), self._clock())


def _was_recorded(connection: Connection, call_id: str) -> bool:
    found = connection.execute(
        sa.select(call_events.c.id)
        .where(call_events.c.call_id == call_id, call_events.c.type.in_(RECORDING_EVENTS))
        .limit(1)
    ).first()
    return found is not None
