"""The live monitor sessions, and what ends them.

The call service hands new sessions here; the app routes every media event through
:meth:`MonitorSessions.on_media_event` first: events of a supervisor's call drive its session,
and the end of a monitored caller's call or agent leg hangs up the supervisors listening to it.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import Counter

from callcenter.media import protocol as media
from callcenter.monitor.session import MonitorSession

log = logging.getLogger(__name__)

TAP_UNDERRUNS = Counter(
    "callcenter_monitor_tap_underruns_total",
    "Times a monitor tap's playout ran dry (a gap the listener hears)",
)
TAP_FRAMES = Counter(
    "callcenter_monitor_tap_frames_total", "20 ms audio frames received by monitor taps"
)


class Pool(Protocol):
    def send(self, call_id: str, command: media.Command) -> None: ...

    def release(self, call_id: str) -> None: ...


class MonitorSessions:
    def __init__(self, pool: Pool, abort_dialog: Callable[[str, str], None] | None = None) -> None:
        self._pool = pool
        self._abort_dialog = abort_dialog  # the front's: BYE a phone whose worker died
        self.sessions: dict[str, MonitorSession] = {}  # by the supervisor's call id

    def add(self, session: MonitorSession) -> None:
        self.sessions[session.call_id] = session

    def on_media_event(self, event: dict[str, Any]) -> bool:
        """Handle ``event`` if it is about a supervisor's call (True); watch for the end of
        monitored conversations either way."""
        call_id = event.get("call")
        kind = event.get("ev")
        if kind == "tap_closed":
            self._tap_closed(event)
            return True
        if not isinstance(call_id, str):
            return False
        if kind in ("hangup", "leg_failed"):
            self._conversation_gone(call_id)
        session = self.sessions.get(call_id)
        if session is None:
            return False
        if kind == "incoming":
            session.incoming()
        elif kind in ("answered", "leg_answered"):  # dialled in, or rung by the API
            session.media_answered()
        elif kind == "leg_failed":  # rung by the API, never answered
            self._finish(session)
        elif kind == "dtmf":
            session.digit(str(event.get("digit", "")))
        elif kind == "hangup":
            self._finish(session)
        elif kind == "error":
            log.warning("monitor %s: worker error: %s", call_id, event.get("message"))
        return True

    def calls_lost(self, call_ids: list[str]) -> None:
        """A worker died: its supervisors' sessions end; supervisors of its conversations
        are hung up."""
        for call_id in call_ids:
            session = self.sessions.get(call_id)
            if session is not None:
                if self._abort_dialog is not None:
                    self._abort_dialog(call_id, "media worker crashed")
                self._finish(session)
            self._conversation_gone(call_id)

    def dialog_ended(self, call_id: str) -> None:
        """The front forgot the dialog; a session whose call never reached a worker ends."""
        session = self.sessions.get(call_id)
        if session is not None and session.started_at is None:
            with contextlib.suppress(LookupError):
                self._pool.send(call_id, media.Hangup(call_id, code=487))
            self._finish(session)

    def hang_up_all(self) -> None:
        """The service stops: every supervisor is hung up (``monitor.stopped`` says why)."""
        for session in list(self.sessions.values()):
            session.conversation_ended("service stopping")

    def _conversation_gone(self, call_id: str) -> None:
        for session in list(self.sessions.values()):
            if call_id in (session.conversation_call, session.agent_leg):
                session.conversation_ended()

    def _finish(self, session: MonitorSession) -> None:
        session.media_ended()
        if self.sessions.pop(session.call_id, None) is not None:
            self._pool.release(session.call_id)

    def _tap_closed(self, event: dict[str, Any]) -> None:
        underruns = event.get("underruns", 0)
        received = event.get("received", 0)
        if isinstance(underruns, int) and isinstance(received, int):
            TAP_UNDERRUNS.inc(underruns)
            TAP_FRAMES.inc(received)
        log.info(
            "tap %s closed: sent %s, received %s, underruns %s, dropped %s",
            event.get("tap"),
            event.get("sent"),
            received,
            underruns,
            event.get("dropped"),
        )
