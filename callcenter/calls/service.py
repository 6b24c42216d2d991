"""Inbound calls as a whole: admission at the SIP front, sessions, worker events, faults.

This is the application side of the front's ``CallAdmission`` seam. It refuses what it cannot
serve with a precise status (404 unknown number, 503 while Redis is down, while stopping or
with no media capacity), opens a call record and a session for the rest, and routes each media
worker event to its session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from callcenter.agents.feature_codes import FeatureCodeDesk, FeatureCodeOutcome
from callcenter.aio import as_deferred
from callcenter.calls.prompts import PromptFiles
from callcenter.calls.session import CallSession
from callcenter.domain.calls import CallRecord
from callcenter.domain.ivr.actions import EnterQueue
from callcenter.domain.ivr.announcement import announcement
from callcenter.domain.ivr.engine import CallContext, IvrSession
from callcenter.domain.ivr.flow import Flow
from callcenter.domain.ivr.library import FlowLibrary
from callcenter.media import protocol as media
from callcenter.monitor.admission import MonitorAdmission
from callcenter.monitor.desk import MonitorGranted, MonitorRefused
from callcenter.sip.admission import Admission, InboundCall, Reject, RouteTo
from callcenter.store.call_records import CallRecords, EventLog

log = logging.getLogger(__name__)

# If the front says a dialog is gone but the worker never reported the call's end (e.g. the
# INVITE was cancelled before it reached the worker), the session is closed after this grace.
ORPHAN_GRACE_SECONDS = 5.0


class MediaPool(Protocol):
    def reserve(self, call_id: str) -> Deferred[tuple[str, int]]: ...

    def release(self, call_id: str) -> None: ...

    def send(self, call_id: str, command: media.Command) -> None: ...


class DialogControl(Protocol):
    def abort_dialog(self, call_id: str, reason: str) -> None: ...


class Health(Protocol):
    @property
    def healthy(self) -> bool: ...


class RedisJournal:
    """CallJournal writing the record and the event log through the Redis link."""

    def __init__(self, records: CallRecords, events: EventLog) -> None:
        self._records = records
        self._events = events

    def save(self, record: CallRecord) -> None:
        self._records.save(record)

    def event(self, event_type: str, record: CallRecord, **data: Any) -> None:
        self._events.append(event_type, record.call_id, **data)


class CallService:
    def __init__(
        self,
        flows: FlowLibrary,
        numbers: dict[str, str],
        pool: MediaPool,
        prompts: PromptFiles,
        journal: RedisJournal,
        redis: Health,
        clock: IReactorTime,
        wall_time: Callable[[], float],
        ivr_time: Callable[[], datetime],
        hold_music: Path,
    ) -> None:
        self._flows = flows
        self._numbers = numbers
        self._pool = pool
        self._prompts = prompts
        self._journal = journal
        self._redis = redis
        self._clock = clock
        self._now = wall_time
        self._ivr_time = ivr_time
        self._hold_music = hold_music
        self.sessions: dict[str, CallSession] = {}
        self.front: DialogControl | None = None
        # Routing's hooks: a session is queued by its IVR; a caller's leg is gone.
        self.on_queued: Callable[[CallSession, EnterQueue], None] | None = None
        self.on_call_ended: Callable[[str], None] | None = None
        self.feature_codes: FeatureCodeDesk | None = None  # agents dialling *40 and friends
        # Recording's hook: a caller reached its IVR (call id, caller's number).
        self.on_answered: Callable[[str, str], None] | None = None
        self.monitoring: MonitorAdmission | None = None  # supervisors dialling *50<agent>…
        self.stopping = False
        self.rejected: dict[int, int] = {}

    # --- CallAdmission -----------------------------------------------------------------

    def admit(self, call: InboundCall) -> Admission | Deferred[Admission]:
        if call.call_id in self.sessions:  # a retransmission raced past the front
            return Reject(482, "Loop Detected")
        desk = self.feature_codes
        is_code = desk is not None and desk.is_feature_code(call.did)
        flow = None if is_code else self._flows.flow_for(call.did)
        monitoring = self.monitoring
        is_monitor = (
            flow is None
            and not is_code
            and monitoring is not None
            and monitoring.is_monitor_code(call.did)
        )
        if flow is None and not is_code and not is_monitor:
            return self._reject(404, "Not Found")
        if self.stopping:
            return self._reject(503, "Service Stopping", {"Retry-After": "30"})
        if not self._redis.healthy:
            return self._reject(503, "State Store Unavailable", {"Retry-After": "10"})
        if flow is not None:
            return self._open(call, flow, self._numbers[call.did])
        if is_monitor:
            assert monitoring is not None

            def monitor(
                verdict: MonitorGranted | MonitorRefused | Reject,
            ) -> Admission | Deferred[Admission]:
                if isinstance(verdict, Reject):  # 407 challenge, 403, 302 to another front
                    self.rejected[verdict.code] = self.rejected.get(verdict.code, 0) + 1
                    return verdict
                if isinstance(verdict, MonitorRefused):  # unknown agent, agent not on a call
                    return self._open(call, announcement(verdict.text), f"monitor code {call.did}")
                return monitoring.admit(call, verdict)

            return as_deferred(monitoring.decide(call)).addCallback(monitor)
        assert desk is not None

        def decided(outcome: FeatureCodeOutcome | Reject) -> Admission | Deferred[Admission]:
            if isinstance(outcome, Reject):  # 407 challenge, 403 wrong agent or blocked
                self.rejected[outcome.code] = self.rejected.get(outcome.code, 0) + 1
                return outcome
            return self._open(call, announcement(outcome.text), f"feature code {call.did}")

        return as_deferred(desk.handle(call)).addCallback(decided)

    def _open(self, call: InboundCall, flow: Flow, flow_name: str) -> Deferred[Admission]:
        """A call record and a session for an admitted call, and a media worker for it."""
        record = CallRecord(
            call_id=call.call_id,
            caller=call.caller,
            caller_name=call.caller_name,
            did=call.did,
            arrived_at=self._now(),
        )
        ivr = IvrSession(flow, CallContext(call.call_id, call.caller, call.did), self._ivr_time)
        session = CallSession(
            record,
            ivr,
            flow_name,
            self._pool,
            self._prompts,
            self._journal,
            self._clock,
            self._now,
            self._hold_music,
        )
        session.on_queued = self.on_queued
        self.sessions[call.call_id] = session
        self._journal.event(
            "call.arrived",
            record,
            caller=call.caller,
            caller_name=call.caller_name,
            did=call.did,
            transport=call.transport,
        )
        self._journal.save(record)

        def routed(worker: tuple[str, int]) -> Admission:
            return RouteTo(worker)

        def no_worker(failure: Failure) -> Admission:
            log.warning("call %s refused: %s", call.call_id, failure.getErrorMessage())
            self.sessions.pop(call.call_id, None)
            record.reject(f"no media capacity: {failure.getErrorMessage()}", self._now())
            self._journal.event("call.rejected", record, code=503, reason="no media capacity")
            self._journal.save(record)
            return self._reject(503, "No Media Capacity", {"Retry-After": "5"})

        return self._pool.reserve(call.call_id).addCallbacks(routed, no_worker)

    def divert(
        self, call_id: str, flow_file: str, node: str | None, reason: str, waited: float | None
    ) -> None:
        """Continue a queued call in an IVR flow (a queue's ``overflow: {flow, node}``)."""
        session = self.sessions.get(call_id)
        flow = self._flows.flow_for(overflow_key(flow_file))
        if session is None or flow is None:
            log.error("call %s: overflow flow %r is not loaded", call_id, flow_file)
            return
        if node is not None:
            flow = dataclasses.replace(flow, start=node)
        ivr = IvrSession(flow, CallContext(call_id, session.record.caller, session.record.did),
                         self._ivr_time)  # fmt: skip
        session.divert(ivr, flow_file, reason, waited)

    def dialog_ended(self, call_id: str) -> None:
        if self.monitoring is not None and call_id in self.monitoring.sessions.sessions:
            self._clock.callLater(
                ORPHAN_GRACE_SECONDS, self.monitoring.sessions.dialog_ended, call_id
            )
        if call_id in self.sessions:
            self._clock.callLater(ORPHAN_GRACE_SECONDS, self._close_orphan, call_id)

    # --- media worker events -------------------------------------------------------------

    def on_media_event(self, event: dict[str, Any]) -> None:
        call_id = event.get("call")
        session = self.sessions.get(call_id) if isinstance(call_id, str) else None
        kind = event.get("ev")
        if session is None:
            if kind not in ("ready", "stats"):
                log.debug("media event for no session: %s", event)
            return
        if kind == "incoming":
            session.incoming()
        elif kind == "answered":
            session.media_answered()
            desk = self.feature_codes
            if self.on_answered is not None and not (
                desk is not None and desk.is_feature_code(session.record.did)
            ):
                self.on_answered(session.call_id, session.record.caller)
        elif kind == "dtmf":
            session.digit(str(event["digit"]), str(event.get("method", "rfc4733")))
        elif kind == "play_done":
            session.playback_done(str(event["token"]))
        elif kind == "hangup":
            session.media_ended(
                str(event.get("by", "remote")),
                int(event.get("code", 0)),
                str(event.get("reason", "")),
            )
            self._finish(session)
        elif kind == "transferred":
            session.transferred(str(event.get("target", "")), int(event.get("status", 200)))
        elif kind == "transfer_failed":
            session.transfer_failed(int(event.get("code", 0)), str(event.get("reason", "")))
        elif kind == "error":
            log.error("media worker error on call %s: %s", call_id, event.get("message"))
            if event.get("cmd") == "transfer":  # the REFER never left: same as a refusal
                session.transfer_failed(None, str(event.get("message", "")))

    def on_calls_lost(self, call_ids: list[str]) -> None:
        """A worker died: its calls failed; the front ends their dialogs with the callers."""
        for call_id in call_ids:
            session = self.sessions.get(call_id)
            if session is None:
                continue
            session.lost("media worker crashed")
            if self.front is not None:
                self.front.abort_dialog(call_id, "media worker crashed")
            self._finish(session)

    # --- lifecycle -----------------------------------------------------------------------

    def hang_up_all(self, reason: str) -> None:
        self.stopping = True
        for session in list(self.sessions.values()):
            session.end(reason)

    def _finish(self, session: CallSession) -> None:
        if self.sessions.pop(session.call_id, None) is not None:
            self._pool.release(session.call_id)
            if self.on_call_ended is not None and session.record.queue is not None:
                self.on_call_ended(session.call_id)

    def _close_orphan(self, call_id: str) -> None:
        session = self.sessions.get(call_id)
        if session is not None:
            with contextlib.suppress(LookupError):  # the worker may have it no more
                self._pool.send(call_id, media.Hangup(call_id, code=487))
            session.media_ended("remote", 487, "dialog ended before media")
            self._finish(session)

    def _reject(self, code: int, reason: str, headers: dict[str, str] | None = None) -> Reject:
        self.rejected[code] = self.rejected.get(code, 0) + 1
        return Reject(code, reason, headers or {})


def overflow_key(flow_file: str) -> str:
    """The flow library's key for a flow reached by queue overflow, not by a dialled number."""
    return f"overflow:{flow_file}"
