"""Reading the history: one call, a filtered page of calls, rows for an export. Blocking.

A call's API view keeps the fields the call record always had (``nodes``, ``digits`` with
their method and node, ``wait``, ``end_node``...) next to the history's own (attempts, legs,
talk, hold, wrap-up), rebuilt from the stored events, so a client written against the live
record reads a finished call from the database unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from callcenter.history.database import HistoryDatabase
from callcenter.history.tables import call_events, calls, legs, queue_attempts

# Events the API view rebuilds its legacy fields from.
_VIEW_EVENTS = ("ivr.node", "ivr.digit", "call.ended", "call.failed", "call.transferring")
ATTEMPT_COLUMNS = ("queue", "entered_at", "left_at", "result", "agent", "wait_seconds")
LEG_COLUMNS = ("kind", "agent", "started_at", "answered_at", "ended_at", "result", "code")


@dataclass(frozen=True)
class CallFilter:
    """Which calls: arrival time range [since, until), exact queue/agent/outcome, caller
    containing ``caller``; newest first, ``before`` an arrival time to page back."""

    since: float | None = None
    until: float | None = None
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    caller: str | None = None
    before: float | None = None
    limit: int = 50

    def matches(self, record: dict[str, Any]) -> bool:
        """The same test on a live record (a call the history has not finished yet)."""
        arrived = record.get("arrived_at")
        if not isinstance(arrived, int | float):
            return False
        if self.since is not None and arrived < self.since:
            return False
        if self.until is not None and arrived >= self.until:
            return False
        if self.before is not None and arrived >= self.before:
            return False
        for name in ("queue", "agent", "outcome"):
            wanted = getattr(self, name)
            if wanted is not None and record.get(name) != wanted:
                return False
        return self.caller is None or self.caller in str(record.get("caller", ""))


def parse_time(raw: str, end_of_day: bool = False) -> float:
    """Unix seconds, or an ISO 8601 date or date-time (UTC unless it names its offset).

    A bare date is the start of that day, or with ``end_of_day`` the start of the next one,
    so ``--from 2026-11-01 --to 2026-11-30`` covers all of November.
    """
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"expected Unix seconds or an ISO 8601 date/time (2026-11-30), got {raw!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(raw.strip()) == 10:  # a date alone: the whole day is included
        moment += timedelta(days=1)
    return moment.timestamp()


class HistoryQueries:
    def __init__(self, database: HistoryDatabase) -> None:
        self._db = database

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self._db.connect() as connection:
            row = (
                connection.execute(sa.select(calls).where(calls.c.call_id == call_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            return _views(connection, [row])[0]

    def calls(self, which: CallFilter) -> list[dict[str, Any]]:
        with self._db.connect() as connection:
            rows = connection.execute(_select(which).limit(which.limit)).mappings().all()
            return _views(connection, rows)

    def export_rows(self, which: CallFilter, chunk: int = 500) -> Iterator[dict[str, Any]]:
        """Every matching ``calls`` row (oldest first), with attempts and legs, streamed."""
        query = _select(which).order_by(None).order_by(calls.c.arrived_at, calls.c.call_id)
        with self._db.connect() as connection:
            offset = 0
            while True:
                rows = connection.execute(query.limit(chunk).offset(offset)).mappings().all()
                if not rows:
                    return
                ids = [r["call_id"] for r in rows]
                attempts, call_legs = _attempts_and_legs(connection, ids)
                for row in rows:
                    record = dict(row)
                    record["attempts"] = attempts.get(row["call_id"], [])
                    record["legs"] = call_legs.get(row["call_id"], [])
                    yield record
                offset += chunk


def _select(which: CallFilter) -> sa.Select[Any]:
    query = sa.select(calls).order_by(calls.c.arrived_at.desc(), calls.c.call_id.desc())
    if which.since is not None:
        query = query.where(calls.c.arrived_at >= which.since)
    if which.until is not None:
        query = query.where(calls.c.arrived_at < which.until)
    if which.before is not None:
        query = query.where(calls.c.arrived_at < which.before)
    if which.queue is not None:  # any queue the call waited in, not only its last
        query = query.where(
            calls.c.call_id.in_(
                sa.select(queue_attempts.c.call_id).where(queue_attempts.c.queue == which.queue)
            )
        )
    if which.agent is not None:
        query = query.where(calls.c.agent == which.agent)
    if which.outcome is not None:
        query = query.where(calls.c.outcome == which.outcome)
    if which.caller is not None:
        query = query.where(calls.c.caller.contains(which.caller, autoescape=True))
    return query


def _attempts_and_legs(
    connection: Connection, ids: Sequence[str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    attempts: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(
        sa.select(queue_attempts)
        .where(queue_attempts.c.call_id.in_(ids))
        .order_by(queue_attempts.c.call_id, queue_attempts.c.seq)
    ).mappings():
        attempts.setdefault(row["call_id"], []).append({k: row[k] for k in ATTEMPT_COLUMNS})
    call_legs: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(
        sa.select(legs).where(legs.c.call_id.in_(ids)).order_by(legs.c.call_id, legs.c.seq)
    ).mappings():
        call_legs.setdefault(row["call_id"], []).append({k: row[k] for k in LEG_COLUMNS})
    return attempts, call_legs


def _views(connection: Connection, rows: Sequence[RowMapping]) -> list[dict[str, Any]]:
    if not rows:
        return []
    ids = [r["call_id"] for r in rows]
    attempts, call_legs = _attempts_and_legs(connection, ids)
    events: dict[str, list[RowMapping]] = {}
    for event in connection.execute(
        sa.select(call_events.c.call_id, call_events.c.type, call_events.c.at, call_events.c.data)
        .where(call_events.c.call_id.in_(ids), call_events.c.type.in_(_VIEW_EVENTS))
        .order_by(call_events.c.position)
    ).mappings():
        events.setdefault(event["call_id"], []).append(event)
    return [
        call_view(
            row,
            attempts.get(row["call_id"], []),
            call_legs.get(row["call_id"], []),
            events.get(row["call_id"], []),
        )
        for row in rows
    ]


def call_view(
    row: RowMapping | dict[str, Any],
    attempts: list[dict[str, Any]],
    call_legs: list[dict[str, Any]],
    events: Sequence[RowMapping | dict[str, Any]],
) -> dict[str, Any]:
    view = {k: v for k, v in dict(row).items() if k not in ("digits", "updated_at")}
    view["digit_keys"] = row["digits"]
    nodes: list[dict[str, Any]] = []
    digits: list[dict[str, Any]] = []
    end_node = transfer_target = None
    for event in events:
        data = event["data"] or {}
        if event["type"] == "ivr.node":
            nodes.append({"node": data.get("node"), "kind": data.get("kind"), "at": event["at"]})
        elif event["type"] == "ivr.digit":
            current = nodes[-1]["node"] if nodes else None
            digits.append(
                {
                    "digit": data.get("digit"),
                    "at": event["at"],
                    "method": data.get("method"),
                    "node": current,
                }
            )
        elif event["type"] in ("call.ended", "call.failed"):
            end_node = end_node or data.get("node")
        elif event["type"] == "call.transferring":
            transfer_target = data.get("target")
    view.update(
        source="history",
        nodes=nodes,
        digits=digits,
        end_node=end_node if end_node is not None else (nodes[-1]["node"] if nodes else None),
        queued_at=attempts[0]["entered_at"] if attempts else None,
        wait=row["wait_seconds"],
        transfer_target=transfer_target,
        offers=sum(1 for leg in call_legs if leg["kind"] == "agent"),
        variables={},
        attempts=attempts,
        legs=call_legs,
    )
    return view
