"""The ticket outbox: rows to deliver, claimed atomically so several ``serve`` processes on one
database never send the same row at once, and kept until the helpdesk took them (``done``) or
refused them for good (``dead``, with the reason).

Everything here is synchronous SQLAlchemy Core, called from a thread pool (never on the
reactor thread). Time is passed in, so tests control it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from callcenter.domain.tickets import TicketDraft, TicketUpdate
from callcenter.tickets.tables import outbox

PENDING, DONE, DEAD = "pending", "done", "dead"
STATES = (PENDING, DONE, DEAD)
CREATE, UPDATE = "create", "update"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    dedup_key: str
    call_id: str
    operation: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    delivered_at: float | None
    backend: str | None
    ticket_ref: str | None
    last_status: int | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "idempotency_key": self.dedup_key,
            "call_id": self.call_id,
            "operation": self.operation,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at if self.state == PENDING else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "delivered_at": self.delivered_at,
            "backend": self.backend,
            "ticket_ref": self.ticket_ref,
            "last_status": self.last_status,
            "reason": self.last_error,
            "payload": self.payload,
        }


def create_key(call_id: str) -> str:
    return f"{call_id}:create"


def enqueue_create(connection: Connection, draft: TicketDraft, now: float) -> None:
    """Inside the caller's transaction: the ticket for ``draft.call_id``, at most once ever."""
    _insert_once(connection, create_key(draft.call_id), draft.call_id, CREATE, draft.to_json(), now)


def _insert_once(
    connection: Connection,
    key: str,
    call_id: str,
    operation: str,
    payload: dict[str, Any],
    now: float,
) -> None:
    values = {
        "dedup_key": key,
        "call_id": call_id,
        "operation": operation,
        "payload": json.dumps(payload, separators=(",", ":")),
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": 0.0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.execute(sqlite.insert(outbox).values(values).on_conflict_do_nothing())
    elif dialect == "postgresql":
        connection.execute(postgresql.insert(outbox).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - other databases: look first (the unique key still guards)
        found = connection.execute(select(outbox.c.id).where(outbox.c.dedup_key == key))
        if found.first() is None:
            connection.execute(insert(outbox).values(values))


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- writing ---------------------------------------------------------------------------

    def add_create(self, draft: TicketDraft, now: float) -> None:
        with self._engine.begin() as connection:
            enqueue_create(connection, draft, now)

    def add_update(self, change: TicketUpdate, now: float) -> str:
        """The agent's wrap-up: folded into the ticket request when that has not been sent yet
        (one ticket, already complete), else queued as an update of the ticket. Answers
        ``"folded"`` or ``"queued"``."""
        key = create_key(change.call_id)
        with self._engine.begin() as connection:
            row = connection.execute(
                select(outbox.c.id, outbox.c.payload, outbox.c.state, outbox.c.claimed_until)
                .where(outbox.c.dedup_key == key)
                .with_for_update()
            ).first()
            if row is not None and row.state == PENDING and row.claimed_until <= now:
                draft = TicketDraft.from_json(json.loads(row.payload))
                folded = draft.with_disposition(change.disposition, change.notes)
                done = connection.execute(
                    update(outbox)
                    .where(
                        outbox.c.id == row.id,
                        outbox.c.payload == row.payload,  # nobody changed it meanwhile
                        outbox.c.state == PENDING,
                        outbox.c.claimed_until <= now,
                    )
                    .values(payload=json.dumps(folded.to_json()), updated_at=now)
                )
                if done.rowcount == 1:
                    return "folded"
            count = connection.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.call_id == change.call_id, outbox.c.operation == UPDATE)
            ).scalar_one()
            _insert_once(
                connection,
                f"{change.call_id}:update:{count + 1}",
                change.call_id,
                UPDATE,
                change.to_json(),
                now,
            )
        return "queued"

    # --- delivering ------------------------------------------------------------------------

    def claim(self, worker: str, now: float, lease_seconds: float, limit: int) -> list[OutboxRow]:
        """Due rows, each taken by one worker only: the conditional UPDATE succeeds for one
        claimant; a worker that dies leaves its rows to be claimed again when the lease ends.
        Claiming counts the attempt, so a crash in the middle of a send still counts (and the
        next attempt checks whether the ticket was created after all)."""
        with self._engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(outbox.c.id)
                    .where(
                        outbox.c.state == PENDING,
                        outbox.c.next_attempt_at <= now,
                        outbox.c.claimed_until <= now,
                    )
                    .order_by(outbox.c.next_attempt_at, outbox.c.id)
                    .limit(limit)
                ).scalars()
            )
        claimed = []
        for row_id in ids:
            with self._engine.begin() as connection:
                taken = connection.execute(
                    update(outbox)
                    .where(
                        outbox.c.id == row_id,
                        outbox.c.state == PENDING,
                        outbox.c.claimed_until <= now,
                    )
                    .values(
                        claimed_until=now + lease_seconds,
                        claimed_by=worker,
                        attempts=outbox.c.attempts + 1,
                        updated_at=now,
                    )
                )
                if taken.rowcount == 1:
                    row = connection.execute(select(outbox).where(outbox.c.id == row_id)).one()
                    claimed.append(_row(row))
        return claimed

    def delivered(
        self,
        row_id: int,
        worker: str,
        backend: str,
        ticket_ref: str,
        status: int | None,
        now: float,
    ) -> None:
        self._finish(
            row_id,
            worker,
            state=DONE,
            backend=backend,
            ticket_ref=ticket_ref,
            last_status=status,
            last_error=None,
            delivered_at=now,
            updated_at=now,
        )

    def retry_later(
        self, row_id: int, worker: str, at: float, status: int | None, reason: str, now: float
    ) -> None:
        self._finish(
            row_id,
            worker,
            next_attempt_at=at,
            last_status=status,
            last_error=reason,
            updated_at=now,
        )

    def postpone(self, row_id: int, worker: str, at: float, reason: str, now: float) -> None:
        """Not an attempt (an update waiting for its ticket): the attempt is given back."""
        self._finish(
            row_id,
            worker,
            next_attempt_at=at,
            attempts=outbox.c.attempts - 1,
            last_error=reason,
            updated_at=now,
        )

    def dead(self, row_id: int, worker: str, status: int | None, reason: str, now: float) -> None:
        self._finish(
            row_id, worker, state=DEAD, last_status=status, last_error=reason, updated_at=now
        )

    def _finish(self, row_id: int, worker: str, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.claimed_by == worker)
                .values(claimed_until=0.0, **values)
            )

    def ticket_of(self, call_id: str) -> OutboxRow | None:
        """The create row of a call (its ``ticket_ref`` once delivered)."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(outbox).where(outbox.c.dedup_key == create_key(call_id))
            ).first()
        return None if row is None else _row(row)

    # --- reading and re-queueing -----------------------------------------------------------

    def rows(self, state: str | None, limit: int, call_id: str | None = None) -> list[OutboxRow]:
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(outbox.c.state == state)
        if call_id is not None:
            query = query.where(outbox.c.call_id == call_id)
        with self._engine.connect() as connection:
            return [_row(r) for r in connection.execute(query)]

    def get(self, row_id: int) -> OutboxRow | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(outbox).where(outbox.c.id == row_id)).first()
        return None if row is None else _row(row)

    def requeue(self, row_id: int, now: float) -> bool:
        """A dead row back to pending, due now, with a fresh attempt count."""
        with self._engine.begin() as connection:
            done = connection.execute(
                update(outbox)
                .where(and_(outbox.c.id == row_id, outbox.c.state == DEAD))
                .values(
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    claimed_until=0.0,
                    updated_at=now,
                )
            )
        return done.rowcount == 1

    def counts(self) -> dict[str, int]:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(outbox.c.state, func.count()).group_by(outbox.c.state)
            ).all()
        counts = {state: 0 for state in STATES}
        counts.update({str(state): int(n) for state, n in found})
        return counts


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        dedup_key=row.dedup_key,
        call_id=row.call_id,
        operation=row.operation,
        payload=json.loads(row.payload),
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        backend=row.backend,
        ticket_ref=row.ticket_ref,
        last_status=row.last_status,
        last_error=row.last_error,
    )
