"""Writes events into the history: raw events once, then the call's summary recomputed.

One transaction per batch: the events are inserted (a replayed ``id`` is ignored), each call
they touch is summarised again from all its stored events with the pure reducer, its ``calls``
row upserted and its queue attempts and legs replaced. The first time a call's end is written
the finished listeners run in that same transaction, so a ticket (or anything else keyed on a
finished call) is created exactly when, and only if, the call's record is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from callcenter.domain.events import LogEntry
from callcenter.domain.history import CallSummary, history_call_id, summarize
from callcenter.history.database import HistoryDatabase
from callcenter.history.tables import call_events, calls, legs, queue_attempts

FinishedListener = Callable[[Connection, CallSummary], None]


@dataclass(frozen=True)
class LoggedEvent:
    """An event with its place in the log (``position`` orders a call's events)."""

    event: LogEntry
    position: int


class HistoryWriter:
    def __init__(self, database: HistoryDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = database
        self._now = clock
        self._listeners: list[FinishedListener] = []
        self._schema_ready = False  # created on first use if the database was down at start

    def add_finished_listener(self, listener: FinishedListener) -> None:
        """``listener(connection, summary)`` runs once per call, inside the transaction that
        first writes its end; raising rolls the whole batch back (it is retried)."""
        self._listeners.append(listener)

    def write(self, batch: Sequence[LoggedEvent]) -> list[CallSummary]:
        """Store ``batch`` and return the summaries of the calls it touched. Blocking."""
        rows = []
        for logged in batch:
            call_id = history_call_id(logged.event)
            if call_id:  # an agent's state change tied to no call is not a call's history
                e = logged.event
                rows.append(
                    {
                        "id": e.id,
                        "call_id": call_id,
                        "type": e.type,
                        "at": e.at,
                        "position": logged.position,
                        "data": dict(e.data),
                    }
                )
        if not rows:
            return []
        touched = sorted({str(r["call_id"]) for r in rows})
        if not self._schema_ready:
            self._db.create_schema()
            self._schema_ready = True
        with self._db.begin() as connection:
            if self._db.dialect == "postgresql":
                # One lock per call, taken in key order so two writers never wait in a ring.
                keys = sorted({_lock_key(call_id) for call_id in touched})
                connection.execute(
                    sa.text(
                        "SELECT pg_advisory_xact_lock(k)"
                        " FROM unnest(CAST(:keys AS bigint[])) AS t(k)"
                    ),
                    {"keys": keys},
                ).all()
            connection.execute(self._insert_ignoring_duplicates(), rows)
            return self._resummarize(connection, touched)

    def _insert_ignoring_duplicates(self) -> Any:
        if self._db.dialect == "postgresql":
            return postgresql.insert(call_events).on_conflict_do_nothing(index_elements=["id"])
        if self._db.dialect == "sqlite":
            return sqlite.insert(call_events).on_conflict_do_nothing(index_elements=["id"])
        return call_events.insert().prefix_with("IGNORE")  # MySQL/MariaDB

    def _resummarize(self, connection: Connection, touched: list[str]) -> list[CallSummary]:
        """Summarise the touched calls again from all their stored events; a handful of
        statements per batch, whatever the number of calls in it."""
        events: dict[str, list[LogEntry]] = {call_id: [] for call_id in touched}
        for r in connection.execute(
            sa.select(
                call_events.c.id,
                call_events.c.call_id,
                call_events.c.type,
                call_events.c.at,
                call_events.c.data,
            )
            .where(call_events.c.call_id.in_(touched))
            .order_by(call_events.c.call_id, call_events.c.position)
        ):
            events[r.call_id].append(LogEntry(r.id, r.type, r.call_id, r.at, r.data or {}))
        was_final: dict[str, bool] = {
            r.call_id: bool(r.finalized)
            for r in connection.execute(
                sa.select(calls.c.call_id, calls.c.finalized).where(calls.c.call_id.in_(touched))
            )
        }
        summaries = [summarize(call_id, events[call_id]) for call_id in touched]
        now = self._now()
        new_rows, changed_rows = [], []
        for summary in summaries:
            values = summary_row(summary)
            values["finalized"] = was_final.get(summary.call_id, False) or summary.finished
            values["updated_at"] = now
            if summary.call_id in was_final:
                changed_rows.append({"key": summary.call_id, **values})
            else:
                new_rows.append({"call_id": summary.call_id, **values})
        if new_rows:
            connection.execute(calls.insert(), new_rows)
        if changed_rows:
            names = [c.name for c in calls.columns if c.name != "call_id"]
            connection.execute(
                calls.update()
                .where(calls.c.call_id == sa.bindparam("key"))
                .values({name: sa.bindparam(name) for name in names}),
                changed_rows,
            )
        connection.execute(queue_attempts.delete().where(queue_attempts.c.call_id.in_(touched)))
        connection.execute(legs.delete().where(legs.c.call_id.in_(touched)))
        attempt_rows = [
            {"call_id": s.call_id, "seq": n, **asdict(a)}
            for s in summaries
            for n, a in enumerate(s.attempts)
        ]
        if attempt_rows:
            connection.execute(queue_attempts.insert(), attempt_rows)
        connection.execute(
            legs.insert(),
            [{"call_id": s.call_id, "seq": n, **asdict(leg)} for s in summaries
             for n, leg in enumerate(s.legs)],
        )  # fmt: skip
        for summary in summaries:
            if summary.finished and not was_final.get(summary.call_id, False):
                for listener in self._listeners:
                    listener(connection, summary)
        return summaries


def summary_row(summary: CallSummary) -> dict[str, Any]:
    """The ``calls`` columns of a summary (without the key and bookkeeping)."""
    row = asdict(summary)
    for name in ("call_id", "attempts", "legs"):
        row.pop(name)
    for name in ("ivr_path", "digits", "choices", "queues"):
        row[name] = list(row[name])
    return row


def _lock_key(call_id: str) -> int:
    return int.from_bytes(hashlib.sha1(call_id.encode()).digest()[:8], "big", signed=True)
