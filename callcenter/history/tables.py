"""The history schema: calls, their queue attempts and legs, and the raw events behind them.

One ``MetaData`` for the whole history database; other packages add their tables to it in
their own modules (import them before :meth:`HistoryDatabase.create_schema`). Times are Unix
seconds (floats), as in the event log and the API, so no time-zone conversion can skew a
report; lists (IVR path, digits, menu choices, queues) are JSON arrays.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Every event of the log a call's record was computed from; ``id`` makes writes idempotent.
call_events = sa.Table(
    "call_events",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("call_id", sa.String(255), nullable=False, index=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    # Position in the Redis Stream (milliseconds * 1e6 + sequence): the log's own order.
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("call_id", sa.String(255), primary_key=True),
    sa.Column("caller", sa.String(255), nullable=False, index=True),
    sa.Column("caller_name", sa.String(255), nullable=False),
    sa.Column("did", sa.String(255), nullable=False),
    sa.Column("flow", sa.String(255)),
    sa.Column("arrived_at", sa.Float, index=True),
    sa.Column("answered_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("duration", sa.Float),
    sa.Column("outcome", sa.String(32), nullable=False, index=True),
    sa.Column("ended_by", sa.String(16)),
    sa.Column("end_reason", sa.Text),
    sa.Column("ivr_path", sa.JSON, nullable=False),
    sa.Column("digits", sa.JSON, nullable=False),
    sa.Column("choices", sa.JSON, nullable=False),
    sa.Column("queue", sa.String(255), index=True),
    sa.Column("queues", sa.JSON, nullable=False),
    sa.Column("priority", sa.Integer),
    sa.Column("wait_seconds", sa.Float),
    sa.Column("agent", sa.String(255), index=True),
    sa.Column("connected_at", sa.Float),
    sa.Column("talk_seconds", sa.Float),
    sa.Column("hold_seconds", sa.Float),
    sa.Column("wrap_up_seconds", sa.Float),
    sa.Column("after_hours", sa.Boolean, nullable=False),
    sa.Column("recording_url", sa.Text),
    sa.Column("disposition", sa.String(255)),
    sa.Column("notes", sa.Text),
    # The call's end was processed (listeners fired); later events only refine the record.
    sa.Column("finalized", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

queue_attempts = sa.Table(
    "queue_attempts",
    metadata,
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("queue", sa.String(255), nullable=False, index=True),
    sa.Column("entered_at", sa.Float, nullable=False),
    sa.Column("left_at", sa.Float),
    sa.Column("result", sa.String(32)),
    sa.Column("agent", sa.String(255)),
    sa.Column("wait_seconds", sa.Float),
)

legs = sa.Table(
    "legs",
    metadata,
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("agent", sa.String(255)),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("answered_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("result", sa.String(32)),
    sa.Column("code", sa.Integer),
)
