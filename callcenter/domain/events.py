"""One entry of the event log, as every consumer reads it.

The history, the KPI feed and the per-process counters all read the same Redis Stream
(README "Events"); they share this one shape and this one way of decoding an entry's fields,
so that an entry one consumer accepts is never skipped as malformed by another.

-*- test-case-name: tests.unit.test_events -*-
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogEntry:
    """An event: ``id`` unique per event (consumers are idempotent on it), ``at`` Unix seconds."""

    id: str
    type: str
    call_id: str
    at: float
    data: Mapping[str, Any]


def entry_from_fields(fields: Mapping[str, Any], fallback_id: str = "") -> LogEntry:
    """Decode a stream entry's fields; ``ValueError`` names what is wrong with a malformed one.

    ``fallback_id`` (e.g. the stream entry id) stands in for an entry written without ``id``.
    """
    try:
        data = json.loads(fields.get("data") or "{}")
        return LogEntry(
            id=str(fields.get("id") or fallback_id),
            type=str(fields["type"]),
            call_id=str(fields.get("call_id", "")),
            at=float(fields["at"]),
            data=data if isinstance(data, dict) else {},
        )
    except KeyError as exc:
        raise ValueError(f"event log entry without {exc}") from None
    except TypeError as exc:
        raise ValueError(f"event log entry malformed: {exc}") from None
