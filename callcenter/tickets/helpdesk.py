"""The built-in helpdesk: requesters, tickets and comments in the history database.

Creating a ticket is idempotent by call id (a unique key), so a re-delivered create answers
the ticket made the first time. Requesters are found by phone number and reused. Synchronous
SQLAlchemy Core, run from a thread pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from callcenter.domain.tickets import TicketDraft, TicketUpdate, disposition_tag
from callcenter.tickets.tables import comments, requesters, tickets

STATUSES = ("open", "pending", "solved", "closed")


class TicketNotFoundError(Exception):
    pass


class TicketClosedError(Exception):
    pass


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    queue: str | None = None
    agent: str | None = None
    phone: str | None = None
    call_id: str | None = None
    limit: int = 50
    before_id: int | None = None


class Helpdesk:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- from the outbox -------------------------------------------------------------------

    def create(self, draft: TicketDraft, now: float) -> int:
        with self._engine.begin() as connection:
            existing = connection.execute(
                select(tickets.c.id).where(tickets.c.call_id == draft.call_id)
            ).scalar()
            if existing is not None:
                return int(existing)
            requester_id = _requester(connection, draft.requester.phone, draft.requester.name, now)
            created = connection.execute(
                insert(tickets).values(
                    call_id=draft.call_id,
                    requester_id=requester_id,
                    subject=draft.subject[:300],
                    description=draft.description,
                    status="open",
                    priority=draft.priority,
                    queue=draft.queue,
                    agent=draft.agent,
                    assignee=draft.agent,
                    tags=json.dumps(list(draft.tags)),
                    recording_url=draft.recording_url,
                    disposition=draft.disposition,
                    notes=draft.notes,
                    created_at=now,
                    updated_at=now,
                )
            )
            key = created.inserted_primary_key
            assert key is not None
            return int(key[0])

    def apply(self, ticket_id: int, change: TicketUpdate, now: float) -> None:
        with self._engine.begin() as connection:
            row = connection.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise TicketNotFoundError(f"no ticket {ticket_id}")
            tags = list(dict.fromkeys([*json.loads(row.tags), disposition_tag(change.disposition)]))
            connection.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(
                    disposition=change.disposition,
                    notes=change.notes,
                    tags=json.dumps(tags),
                    updated_at=now,
                )
            )
            connection.execute(
                insert(comments).values(
                    ticket_id=ticket_id,
                    author=change.agent or "wrap-up",
                    body=change.text,
                    created_at=now,
                )
            )

    # --- from the REST API -----------------------------------------------------------------

    def search(self, where: TicketFilter) -> list[dict[str, Any]]:
        query = (
            select(tickets, requesters.c.phone, requesters.c.name)
            .join(requesters, requesters.c.id == tickets.c.requester_id)
            .order_by(tickets.c.id.desc())
            .limit(where.limit)
        )
        if where.status is not None:
            query = query.where(tickets.c.status == where.status)
        if where.queue is not None:
            query = query.where(tickets.c.queue == where.queue)
        if where.agent is not None:
            query = query.where(tickets.c.agent == where.agent)
        if where.phone is not None:
            query = query.where(requesters.c.phone == where.phone)
        if where.call_id is not None:
            query = query.where(tickets.c.call_id == where.call_id)
        if where.before_id is not None:
            query = query.where(tickets.c.id < where.before_id)
        with self._engine.connect() as connection:
            return [_view(row) for row in connection.execute(query)]

    def get(self, ticket_id: int) -> dict[str, Any]:
        with self._engine.connect() as connection:
            view = _one(connection, ticket_id)
            found = connection.execute(
                select(comments).where(comments.c.ticket_id == ticket_id).order_by(comments.c.id)
            )
            view["comments"] = [
                {"id": c.id, "author": c.author, "body": c.body, "created_at": c.created_at}
                for c in found
            ]
            view["requester"]["tickets"] = connection.execute(
                select(func.count())
                .select_from(tickets)
                .where(tickets.c.requester_id == view["requester"]["id"])
            ).scalar_one()
        return view

    def agent_of(self, ticket_id: int) -> str | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(tickets.c.agent).where(tickets.c.id == ticket_id)
            ).first()
        if row is None:
            raise TicketNotFoundError(f"no ticket {ticket_id}")
        return None if row.agent is None else str(row.agent)

    def patch(self, ticket_id: int, changes: dict[str, Any], now: float) -> dict[str, Any]:
        values = dict(changes)
        if "tags" in values:
            values["tags"] = json.dumps(values["tags"])
        if values.get("status") == "closed":
            values["closed_at"] = now
        elif "status" in values:
            values["closed_at"] = None
        with self._engine.begin() as connection:
            done = connection.execute(
                update(tickets).where(tickets.c.id == ticket_id).values(updated_at=now, **values)
            )
            if done.rowcount != 1:
                raise TicketNotFoundError(f"no ticket {ticket_id}")
        return self.get(ticket_id)

    def comment(self, ticket_id: int, author: str, body: str, now: float) -> dict[str, Any]:
        with self._engine.begin() as connection:
            row = connection.execute(
                select(tickets.c.status).where(tickets.c.id == ticket_id)
            ).first()
            if row is None:
                raise TicketNotFoundError(f"no ticket {ticket_id}")
            if row.status == "closed":
                raise TicketClosedError(f"ticket {ticket_id} is closed; reopen it to comment")
            added = connection.execute(
                insert(comments).values(
                    ticket_id=ticket_id, author=author, body=body, created_at=now
                )
            )
            connection.execute(
                update(tickets).where(tickets.c.id == ticket_id).values(updated_at=now)
            )
            key = added.inserted_primary_key
            assert key is not None
        return {"id": int(key[0]), "author": author, "body": body, "created_at": now}


def _requester(connection: Connection, phone: str, name: str | None, now: float) -> int:
    """The requester with this number, created on its first call (and named when we learn
    the caller's name)."""
    row = connection.execute(
        select(requesters.c.id, requesters.c.name).where(requesters.c.phone == phone)
    ).first()
    if row is not None:
        if name and row.name != name:
            connection.execute(
                update(requesters)
                .where(requesters.c.id == row.id)
                .values(name=name, updated_at=now)
            )
        return int(row.id)
    created = connection.execute(
        insert(requesters).values(phone=phone, name=name, created_at=now, updated_at=now)
    )
    key = created.inserted_primary_key
    assert key is not None
    return int(key[0])


def _one(connection: Connection, ticket_id: int) -> dict[str, Any]:
    row = connection.execute(
        select(tickets, requesters.c.phone, requesters.c.name)
        .join(requesters, requesters.c.id == tickets.c.requester_id)
        .where(tickets.c.id == ticket_id)
    ).first()
    if row is None:
        raise TicketNotFoundError(f"no ticket {ticket_id}")
    return _view(row)


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "call_id": row.call_id,
        "subject": row.subject,
        "description": row.description,
        "status": row.status,
        "priority": row.priority,
        "queue": row.queue,
        "agent": row.agent,
        "assignee": row.assignee,
        "tags": json.loads(row.tags),
        "recording_url": row.recording_url,
        "disposition": row.disposition,
        "notes": row.notes,
        "requester": {"id": row.requester_id, "phone": row.phone, "name": row.name},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "closed_at": row.closed_at,
    }
