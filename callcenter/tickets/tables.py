"""The tickets' tables, on the history database's one ``MetaData``.

``ticket_outbox`` holds what must be sent to the helpdesk, one row per operation
(``dedup_key`` is unique: ``<call id>:create`` for the ticket, ``<call id>:update:<n>`` for
each wrap-up sent after it), written in the same transaction as the finished call, so a call
and its ticket request commit together or not at all. The ``helpdesk_*`` tables are the
built-in helpdesk.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from callcenter.history.tables import metadata

outbox = Table(
    "ticket_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("call_id", String(128), nullable=False, index=True),
    Column("operation", String(16), nullable=False),  # create | update
    Column("payload", Text, nullable=False),  # JSON: a TicketDraft or a TicketUpdate
    Column("state", String(16), nullable=False),  # pending | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("claimed_by", String(64)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("backend", String(32)),
    Column("ticket_ref", String(200)),  # the helpdesk's ticket id, once created
    Column("last_status", Integer),
    Column("last_error", Text),
    Index("ix_ticket_outbox_due", "state", "next_attempt_at"),
)

requesters = Table(
    "helpdesk_requesters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(128), nullable=False, unique=True),
    Column("name", String(200)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

tickets = Table(
    "helpdesk_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(128), nullable=False, unique=True),
    Column("requester_id", Integer, ForeignKey("helpdesk_requesters.id"), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | pending | solved | closed
    Column("priority", String(16), nullable=False),  # low | normal | high | urgent
    Column("queue", String(128)),
    Column("agent", String(128)),  # who took the call
    Column("assignee", String(128)),  # who works the ticket
    Column("tags", Text, nullable=False),  # JSON list
    Column("recording_url", Text),
    Column("disposition", String(200)),
    Column("notes", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("closed_at", Float),
    Index("ix_helpdesk_tickets_status", "status", "created_at"),
)

comments = Table(
    "helpdesk_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("helpdesk_tickets.id"), nullable=False, index=True),
    Column("author", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
