"""A typical answered call as the event log holds it, for history tests and the history bench."""

from __future__ import annotations

from typing import Any

from callcenter.domain.events import LogEntry
from callcenter.history.writer import LoggedEvent

ANSWERED_CALL: list[tuple[float, str, dict[str, Any]]] = [
    (0, "call.arrived", {"caller": "+4420", "caller_name": "Bob", "did": "100"}),
    (0.2, "call.answered", {"flow": "support.yaml"}),
    (0.3, "ivr.node", {"node": "menu", "kind": "menu"}),
    (2, "ivr.digit", {"digit": "1", "method": "rfc4733"}),
    (2, "ivr.choice", {"node": "menu", "digit": "1", "choice": "billing"}),
    (2, "ivr.node", {"node": "billing", "kind": "queue"}),
    (2, "call.queued", {"queue": "billing", "priority": 0, "skills": {}}),
    (3, "call.offered", {"agent": "ann", "queue": "billing"}),
    (5, "call.connected", {"agent": "ann", "wait": 3.0}),
    (65, "call.ended", {"outcome": "completed", "by": "caller", "node": "billing"}),
]


def answered_call(call_id: str, t0: float = 1_790_000_000.0) -> list[LoggedEvent]:
    """The events of one call answered by ann after 3 s in billing, starting at ``t0``."""
    return [
        LoggedEvent(LogEntry(f"{call_id}-{n}", kind, call_id, t0 + dt, d), int(t0 * 1e9) + n)
        for n, (dt, kind, d) in enumerate(ANSWERED_CALL)
    ]
