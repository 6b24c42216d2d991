"""CDR export: the history's calls (or their legs, or queue attempts) as CSV or JSON lines.

Reads the database directly, so it works while the service is stopped. CSV times are ISO 8601
in UTC (a spreadsheet reads them); JSON lines keep Unix seconds and nest attempts and legs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from callcenter.history.queries import ATTEMPT_COLUMNS, LEG_COLUMNS

CALL_COLUMNS = (
    "call_id", "caller", "caller_name", "did", "flow", "arrived_at", "answered_at", "ended_at",
    "duration", "outcome", "ended_by", "end_reason", "ivr_path", "digits", "choices", "queue",
    "queues", "priority", "wait_seconds", "agent", "connected_at", "talk_seconds",
    "hold_seconds", "wrap_up_seconds", "after_hours", "recording_url", "disposition", "notes",
)  # fmt: skip
TIME_COLUMNS = frozenset(
    {"arrived_at", "answered_at", "ended_at", "connected_at", "entered_at", "left_at",
     "started_at"}
)  # fmt: skip
# How list columns are joined in a CSV cell.
JOINED = {"ivr_path": ">", "digits": "", "choices": "|", "queues": "|"}
KINDS = ("calls", "attempts", "legs")
FORMATS = ("csv", "jsonl")


def export(rows: Iterable[dict[str, Any]], out: TextIO, kind: str, fmt: str) -> int:
    """Write ``rows`` (from ``HistoryQueries.export_rows``); return how many records."""
    if fmt == "jsonl":
        return _jsonl(rows, out, kind)
    columns = _columns(kind)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for record in _records(rows, kind):
        writer.writerow([_cell(name, record.get(name)) for name in columns])
        count += 1
    return count


def _columns(kind: str) -> tuple[str, ...]:
    if kind == "attempts":
        return ("call_id", "seq", *ATTEMPT_COLUMNS)
    if kind == "legs":
        return ("call_id", "seq", *LEG_COLUMNS)
    return CALL_COLUMNS


def _records(rows: Iterable[dict[str, Any]], kind: str) -> Iterable[dict[str, Any]]:
    for row in rows:
        if kind == "calls":
            yield row
        else:
            for seq, part in enumerate(row[kind]):
                yield {"call_id": row["call_id"], "seq": seq, **part}


def _jsonl(rows: Iterable[dict[str, Any]], out: TextIO, kind: str) -> int:
    count = 0
    for record in _records(rows, kind):
        if kind == "calls":
            record = {k: record.get(k) for k in (*CALL_COLUMNS, "attempts", "legs")}
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        count += 1
    return count


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in TIME_COLUMNS and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return JOINED.get(name, "|").join(str(v) for v in value)
    return str(value)
