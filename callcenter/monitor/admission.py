"""Admitting a supervisor's monitor call: the desk's verdict, a worker, a session.

The call service asks :meth:`MonitorAdmission.admit` for a dialled monitor code. A granted
request reserves one call slot on any media worker (the pool's usual placement: the tap
crosses workers, so the conversation's full worker is never a problem; no agent leg will
follow, so one slot is enough) and registers the session
before the INVITE is routed, so the worker's first event finds it.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from callcenter.media import protocol as media
from callcenter.monitor.desk import MonitorDesk, MonitorGranted, MonitorRefused
from callcenter.monitor.session import Events, MonitorSession
from callcenter.monitor.sessions import MonitorSessions
from callcenter.sip.admission import Admission, InboundCall, Reject, RouteTo

log = logging.getLogger(__name__)


class Pool(Protocol):
    def reserve(self, call_id: str, slots: int | None = None) -> Deferred[tuple[str, int]]: ...

    def release(self, call_id: str) -> None: ...

    def send(self, call_id: str, command: media.Command) -> None: ...

    def tap_address(self, call_id: str) -> tuple[str, int] | None: ...


class MonitorAdmission:
    def __init__(
        self,
        desk: MonitorDesk,
        sessions: MonitorSessions,
        pool: Pool,
        events: Events,
        now: Callable[[], float],
    ) -> None:
        self.desk = desk
        self.sessions = sessions
        self._pool = pool
        self._events = events
        self._now = now

    def is_monitor_code(self, did: str) -> bool:
        return self.desk.is_monitor_code(did)

    async def decide(self, call: InboundCall) -> MonitorGranted | MonitorRefused | Reject:
        return await self.desk.handle(call)

    def admit(self, call: InboundCall, granted: MonitorGranted) -> Deferred[Admission]:
        session = MonitorSession(call.call_id, granted, self._pool, self._events, self._now)
        self.sessions.add(session)

        def routed(worker: tuple[str, int]) -> Admission:
            return RouteTo(worker)

        def no_worker(failure: Failure) -> Admission:
            log.warning("monitor call %s refused: %s", call.call_id, failure.getErrorMessage())
            self.sessions.sessions.pop(call.call_id, None)
            return Reject(503, "No Media Capacity", {"Retry-After": "5"})

        return self._pool.reserve(call.call_id, slots=1).addCallbacks(routed, no_worker)
