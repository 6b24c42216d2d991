"""The audit trail: every supervisor's action on an agent or a call, as an event.

Each action taken with a supervisor or admin token is appended to the event log as
``supervisor.action`` ``{supervisor, role, action, target, details}``, where ``supervisor``
is the token's name (``supervisor:<name>`` in ``http.tokens``, else the role and a short
fingerprint of the token) so that a report can say who did what. An agent acting on itself
with its own bound token is not a supervisor's action and is not audited here (its state
change is in the ``agent.state`` events). The same entry goes to the audit log
(``callcenter.store.audit``) that ``GET /api/audit`` reads.

-*- test-case-name: tests.integration.supervisor.test_calls_api -*-
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import Counter

from callcenter.web.auth import Principal, rank

log = logging.getLogger(__name__)

ACTIONS = Counter(
    "callcenter_supervisor_actions_total",
    "Supervisors' actions on agents and calls (audited as supervisor.action events)",
    ["action"],
)


class EventAppender(Protocol):
    """``callcenter.store.call_records.EventLog``."""

    def append(self, event_type: str, call_id: str, **data: Any) -> None: ...


class AuditAppender(Protocol):
    """``callcenter.store.audit.AuditLog``."""

    def append(self, entry: dict[str, Any]) -> None: ...


class AuditTrail:
    def __init__(
        self,
        events: EventAppender,
        log: AuditAppender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._events = events
        self._log = log
        self._now = clock

    def record(
        self, principal: Principal, action: str, target: str, call_id: str = "", **details: Any
    ) -> None:
        """Audit ``action`` on ``target`` (an agent id or a call id) if a supervisor took it."""
        if rank(principal.role) < rank("supervisor"):
            return
        ACTIONS.labels(action).inc()
        log.info("supervisor %s: %s %s %s", principal.name, action, target, details)
        entry = {
            "supervisor": principal.name,
            "role": principal.role,
            "action": action,
            "target": target,
            "details": details,
        }
        self._events.append("supervisor.action", call_id, **entry)
        if self._log is not None:
            self._log.append({"at": self._now(), "call_id": call_id, **entry})
