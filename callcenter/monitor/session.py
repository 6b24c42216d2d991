"""One supervisor's monitor session: the supervisor's call, tapped into a conversation.

The supervisor's call lives on whatever worker admitted it; the conversation (caller and agent
leg) on its own worker, which is usually full. So the session opens an audio tap with the same
id in both workers (:mod:`callcenter.media.tap`): on the conversation's worker the tap listens
to caller and agent and, depending on the mode, talks to nobody (listen), the agent (whisper)
or both (barge); on the supervisor's worker it talks to the supervisor and listens to them
(except in listen mode, where nobody would hear them anyway).

The conversation never depends on the session: the supervisor hanging up only closes the
taps. The session depends on the conversation: when it ends, the supervisor is hung up.

Events (on the conversation's call id, for the audit trail): ``monitor.started``
{supervisor, agent, mode, supervisor_call}, ``monitor.mode`` {supervisor, agent, mode,
previous}, ``monitor.stopped`` {supervisor, agent, mode, seconds, reason}.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import Counter

from callcenter.domain.monitor import Mode, hearing, mode_for_key
from callcenter.media import protocol as media
from callcenter.monitor.desk import MonitorGranted

log = logging.getLogger(__name__)

SESSIONS = Counter(
    "callcenter_monitor_sessions_total",
    "Supervisor monitor sessions started, by the mode they started in",
    ["mode"],
)
MODE_CHANGES = Counter(
    "callcenter_monitor_mode_changes_total", "Mode changes (DTMF 4/5/6) during monitor sessions"
)


class TapPool(Protocol):
    """What the session needs of the worker pool."""

    def send(self, call_id: str, command: media.Command) -> None: ...

    def tap_address(self, call_id: str) -> tuple[str, int] | None: ...


class Events(Protocol):
    def append(self, event_type: str, call_id: str, **data: Any) -> None: ...


class MonitorSession:
    def __init__(
        self,
        call_id: str,
        granted: MonitorGranted,
        pool: TapPool,
        events: Events,
        now: Callable[[], float],
    ) -> None:
        self.call_id = call_id  # the supervisor's call
        self.granted = granted
        self.mode = granted.mode
        self._pool = pool
        self._events = events
        self._now = now
        self.tap = f"mon-{uuid.uuid4().hex[:16]}"
        # The tap's end on each side, by the call whose worker holds it.
        self._taps = {self.conversation_call: f"{self.tap}-c", call_id: f"{self.tap}-s"}
        self.started_at: float | None = None
        self.ended = False
        self._stop_reason = "supervisor hung up"
        self._tapped: list[str] = []  # calls whose worker has the tap open

    @property
    def conversation_call(self) -> str:
        return self.granted.conversation.call_id

    @property
    def agent_leg(self) -> str:
        return self.granted.conversation.leg

    # --- media events of the supervisor's call ---------------------------------------------

    def incoming(self) -> None:
        self._send(self.call_id, media.Answer(self.call_id))

    def media_answered(self) -> None:
        if self.started_at is not None or self.ended:
            return
        conversation = self._pool.tap_address(self.conversation_call)
        mine = self._pool.tap_address(self.call_id)
        if conversation is None or mine is None:
            self.conversation_ended("conversation ended")
            return
        self.started_at = self._now()
        listen_to, talk_to = self._conversation_side()
        # Two ends with their own ids: both may be on one worker.
        near, far = self._taps[self.conversation_call], self._taps[self.call_id]
        self._send(
            self.conversation_call,
            media.TapOpen(near, far, mine[0], mine[1], listen_to, talk_to),
        )
        self._tapped.append(self.conversation_call)
        listen_to, talk_to = self._supervisor_side()
        self._send(
            self.call_id,
            media.TapOpen(far, near, conversation[0], conversation[1], listen_to, talk_to),
        )
        self._tapped.append(self.call_id)
        SESSIONS.labels(str(self.mode)).inc()
        log.info(
            "supervisor %s %ss to agent %s on %s",
            self.granted.supervisor.id,
            self.mode,
            self.granted.agent.id,
            self.conversation_call,
        )
        self._event("monitor.started", supervisor_call=self.call_id)

    def digit(self, digit: str) -> None:
        mode = mode_for_key(digit)
        if mode is None or mode is self.mode or not self._tapped or self.ended:
            return  # not a mode key, no change, or the taps are not (or no longer) open
        previous, self.mode = self.mode, mode
        conversation, supervisor = self.conversation_call, self.call_id
        self._send(conversation, media.TapSet(self._taps[conversation], *self._conversation_side()))
        self._send(supervisor, media.TapSet(self._taps[supervisor], *self._supervisor_side()))
        MODE_CHANGES.inc()
        self._event("monitor.mode", previous=str(previous))

    def media_ended(self) -> None:
        """The supervisor's call is over (either side hung up, or its worker died)."""
        if self.ended:
            return
        self.ended = True
        self._close_taps()
        if self.started_at is None:
            return
        seconds = round(self._now() - self.started_at, 3)
        self._event("monitor.stopped", seconds=seconds, reason=self._stop_reason)

    def conversation_ended(self, reason: str = "conversation ended") -> None:
        """The monitored conversation is over: hang up the supervisor."""
        if self.ended:
            return
        self._stop_reason = reason
        self._close_taps()  # now, while the pool still knows the conversation's worker
        with contextlib.suppress(LookupError):
            self._send(self.call_id, media.Hangup(self.call_id, code=480))

    # --- helpers ---------------------------------------------------------------------------

    def _close_taps(self) -> None:
        tapped, self._tapped = self._tapped, []
        for call in tapped:
            with contextlib.suppress(LookupError):  # that worker may have the call no more
                self._send(call, media.TapClose(self._taps[call]))

    def _conversation_side(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        heard_by = hearing(self.mode)
        talk_to = tuple(
            call
            for call, hears in ((self.conversation_call, heard_by.caller),
                                (self.agent_leg, heard_by.agent))
            if hears
        )  # fmt: skip
        return (self.conversation_call, self.agent_leg), talk_to

    def _supervisor_side(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        speaks = self.mode is not Mode.LISTEN  # in listen mode nobody would hear them
        return ((self.call_id,) if speaks else ()), (self.call_id,)

    def _send(self, call_id: str, command: media.Command) -> None:
        self._pool.send(call_id, command)

    def _event(self, event_type: str, **data: Any) -> None:
        self._events.append(
            event_type,
            self.conversation_call,
            supervisor=self.granted.supervisor.id,
            agent=self.granted.agent.id,
            mode=str(self.mode),
            **data,
        )
