"""One inbound call, from the worker's first event to hang-up.

The session is the adapter around the pure IVR engine: it turns media events (answered, digit,
playback done, hang-up) into engine inputs and the engine's actions into worker commands,
timers and call-record updates. It owns no sockets; it talks to the media worker through a
``MediaCommands`` object and keeps its record through a ``CallJournal``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from callcenter.calls.prompts import PromptFiles
from callcenter.domain.calls import CallRecord, Outcome
from callcenter.domain.ivr.actions import (
    Action,
    CancelTimer,
    DigitsCollected,
    EnterQueue,
    Hangup,
    HoursChecked,
    MenuChosen,
    NodeEntered,
    Play,
    Say,
    StartTimer,
    StopPlayback,
    Transfer,
)
from callcenter.domain.ivr.engine import IvrSession
from callcenter.media import protocol as media

log = logging.getLogger(__name__)

# Playback tokens of what the waiting room says to a queued caller (never the IVR's).
ANNOUNCE_TOKEN = "wait-announce"
GOODBYE_TOKEN = "wait-goodbye"


class MediaCommands(Protocol):
    def send(self, call_id: str, command: media.Command) -> None: ...


class CallJournal(Protocol):
    """Where a session's record and events go (Redis, through the outage buffer)."""

    def save(self, record: CallRecord) -> None: ...

    def event(self, event_type: str, record: CallRecord, **data: Any) -> None: ...


class CallSession:
    def __init__(
        self,
        record: CallRecord,
        ivr: IvrSession,
        flow_name: str,
        media: MediaCommands,
        prompts: PromptFiles,
        journal: CallJournal,
        clock: IReactorTime,
        wall_time: Callable[[], float],
        hold_music: Path,
    ) -> None:
        self.record = record
        self.ivr = ivr
        self._flow_name = flow_name
        self._media = media
        self._prompts = prompts
        self._journal = journal
        self._clock = clock
        self._now = wall_time
        self._hold_music = hold_music
        self._timers: dict[str, IDelayedCall] = {}
        self._playing: str | None = None  # token of the playback the engine waits for
        self.answered = False
        # Set by the call service when routing runs: the IVR queued this call.
        self.on_queued: Callable[[CallSession, EnterQueue], None] | None = None
        self.agent_hung_up = False
        self._end_reason: str | None = None  # ours when we hang up a waiting caller

    @property
    def call_id(self) -> str:
        return self.record.call_id

    # --- media events ------------------------------------------------------------------

    def incoming(self) -> None:
        self._send(media.Answer(self.call_id))

    def media_answered(self) -> None:
        if self.answered:
            return
        self.answered = True
        self.record.answer(self._now(), self._flow_name)
        self._journal.event("call.answered", self.record, flow=self._flow_name)
        self._run(self.ivr.start())

    def digit(self, digit: str, method: str) -> None:
        self.record.press(digit, method, self._now())
        self._journal.event("ivr.digit", self.record, digit=digit, method=method)
        if not self.ivr.finished:
            self._run(self.ivr.digit(digit))
        else:
            self._journal.save(self.record)

    def playback_done(self, token: str) -> None:
        if token in (ANNOUNCE_TOKEN, GOODBYE_TOKEN):
            self._waiting_playback_done(token)
            return
        if token == self._playing:
            self._playing = None
        if not self.ivr.finished:
            self._run(self.ivr.playback_done(token))

    def media_ended(self, by: str, code: int, reason: str) -> None:
        """The worker reports the call's end (BYE either way, CANCEL, or a failure)."""
        self._cancel_timers()
        # A bridged pair ends together: the agent's BYE arrives first, then ours to the caller.
        who = "caller" if by == "remote" else "agent" if self.agent_hung_up else "system"
        reason = self._end_reason or reason or str(code)
        self.record.hang_up(who, reason, self._now(), ivr_finished=self.ivr.finished)
        self._journal.event(
            "call.ended",
            self.record,
            outcome=str(self.record.outcome),
            by=who,
            node=self.record.end_node,
            reason=self.record.end_reason,
        )
        self._journal.save(self.record)

    def offered(self, agent_id: str, queue: str) -> None:
        self.record.offered()
        self._journal.event("call.offered", self.record, agent=agent_id, queue=queue)
        self._journal.save(self.record)

    def offer_failed(self, agent_id: str, code: int, reason: str) -> None:
        self._journal.event(
            "call.no_answer" if code == 408 else "call.offer_failed",
            self.record,
            agent=agent_id,
            code=code,
            reason=reason,
        )

    def agent_connected(self, agent_id: str) -> None:
        self.record.connect(agent_id, self._now())
        self._journal.event(
            "call.connected", self.record, agent=agent_id, wait=self.record.wait_seconds()
        )
        self._journal.save(self.record)

    def agent_hold(self, agent_id: str, held: bool) -> None:
        """The agent's phone put the caller on hold (or took them off it)."""
        self._journal.event("call.hold" if held else "call.unhold", self.record, agent=agent_id)

    def transferred(self, uri: str, status: int) -> None:
        """The caller's phone took the transfer; its hang-up with us follows."""
        self.record.transferred()
        self._journal.event(
            "call.transferred",
            self.record,
            target=self.record.transfer_target,
            uri=uri,
            status=status,
        )
        self._journal.save(self.record)

    def transfer_failed(self, code: int | None, reason: str) -> None:
        """The transfer did not happen (REFER refused, target busy...). The flow ends at its
        transfer node, so there is nothing to go back to: the call is hung up and recorded
        ``failed`` with the SIP answer as its reason, for a supervisor to see."""
        if self.record.finished:
            return
        self._cancel_timers()
        text = reason if code is None else f"{code} {reason}".strip()
        self.record.fail(f"transfer failed: {text}", self._now())
        self._journal.event(
            "call.transfer_failed",
            self.record,
            target=self.record.transfer_target,
            code=code,
            reason=reason,
        )
        self._journal.save(self.record)
        self._send(media.Hangup(self.call_id, code=503))

    def lost(self, reason: str) -> None:
        """The media is gone without a clean end (the worker crashed)."""
        self._cancel_timers()
        self.record.fail(reason, self._now())
        self._journal.event("call.failed", self.record, reason=reason, node=self.record.end_node)
        self._journal.save(self.record)

    def end(self, reason: str) -> None:
        """Hang up from our side (service stopping); the worker's hang-up event follows."""
        self._cancel_timers()
        self.record.fail(reason, self._now())
        self._send(media.Hangup(self.call_id, code=503))

    # --- while waiting in a queue (driven by ``callcenter.routing.waiting``) -------------

    @property
    def waiting(self) -> bool:
        """Queued and not (yet) talking to an agent: hold music and announcements apply."""
        return (
            self.record.queue is not None
            and self.record.connected_at is None
            and (not self.record.finished)
        )

    def announce(self, text: str, **details: Any) -> None:
        """Speak ``text`` over the hold music, which then starts again (event ``call.announced``).

        The text holds numbers that change, so it is rendered now (in a thread, cached); if an
        agent answered meanwhile, nothing is played: the bridge has replaced the music.
        """
        self._journal.event("call.announced", self.record, text=text, **details)
        self._speak(text, ANNOUNCE_TOKEN)

    def leave_queue(self, text: str, reason: str, waited: float | None) -> None:
        """Speak ``text`` then hang up: the caller leaves its queue with no agent."""
        self._end_reason = f"left queue: {reason}"
        self._journal.event(
            "call.left_queue", self.record, queue=self.record.queue, reason=reason, wait=waited
        )
        self._speak(text, GOODBYE_TOKEN)

    def divert(self, ivr: IvrSession, flow_name: str, reason: str, waited: float | None) -> None:
        """The caller leaves its queue for an IVR flow (queue overflow to a flow node)."""
        self._journal.event(
            "call.overflowed",
            self.record,
            from_queue=self.record.queue,
            to_flow=flow_name,
            reason=reason,
            wait=waited,
        )
        self.record.queue = None  # no longer waiting: no hold music, no announcements
        self.record.outcome = Outcome.IN_PROGRESS
        self.ivr = ivr
        self._flow_name = flow_name
        self._run(ivr.start())

    def overflowed(self, to_queue: str, reason: str, waited: float | None) -> None:
        """The caller now waits in ``to_queue`` (the record's wait keeps counting from the first
        queue, so reports see the whole time the caller waited)."""
        from_queue = self.record.queue
        self.record.queue = to_queue
        self._journal.event(
            "call.overflowed",
            self.record,
            from_queue=from_queue,
            to_queue=to_queue,
            reason=reason,
            wait=waited,
        )
        self._journal.save(self.record)

    def moved(self, to_queue: str, by: str, waited: float | None) -> None:
        """A supervisor moved the waiting caller to ``to_queue`` (it keeps its hold music, its
        priority and its original entry time; the record's wait counts from the first queue)."""
        from_queue = self.record.queue
        self.record.queue = to_queue
        self._journal.event(
            "call.moved", self.record, from_queue=from_queue, to_queue=to_queue, by=by, wait=waited
        )
        self._journal.save(self.record)

    def reprioritized(self, priority: int, by: str) -> None:
        """A supervisor changed the waiting caller's priority (higher is served first)."""
        before = self.record.priority
        self.record.priority = priority
        self._journal.event(
            "call.priority_changed",
            self.record,
            queue=self.record.queue,
            from_priority=before,
            to_priority=priority,
            by=by,
        )
        self._journal.save(self.record)

    def _speak(self, text: str, token: str) -> None:
        language = self.ivr.variables.get("lang", "en")
        d = self._prompts.resolve([Say(text, language)])

        def send(files: list[Path]) -> None:
            if self.waiting:
                self._send(media.Play(self.call_id, tuple(str(f) for f in files), token))

        def failed(failure: Failure) -> None:
            log.error("call %s: waiting prompt failed: %s", self.call_id, failure.getErrorMessage())
            self._waiting_playback_done(token)

        d.addCallbacks(send, failed)

    def _waiting_playback_done(self, token: str) -> None:
        if not self.waiting:
            return
        if token == GOODBYE_TOKEN:
            self._send(media.Hangup(self.call_id))
        else:
            self._hold()

    def _send(self, command: media.Command) -> None:
        """Send to the worker; a call it no longer holds (it just hung up) is not an error."""
        try:
            self._media.send(self.call_id, command)
        except LookupError as exc:
            log.info(
                "call %s: %s not sent, the media is gone (%s)", self.call_id, command.name, exc
            )

    # --- engine actions ----------------------------------------------------------------

    def _run(self, actions: list[Action]) -> None:
        for action in actions:
            self._apply(action)
        self.record.variables = {
            k: v for k, v in self.ivr.variables.items() if k not in ("caller", "did", "call_id")
        }
        self._journal.save(self.record)

    def _apply(self, action: Action) -> None:
        now = self._now()
        if isinstance(action, NodeEntered):
            self.record.enter_node(action.node, action.kind, now)
            self._journal.event("ivr.node", self.record, node=action.node, kind=action.kind)
        elif isinstance(action, Play):
            self._play(action)
        elif isinstance(action, StopPlayback):
            self._playing = None
            self._send(media.StopPlay(self.call_id))
        elif isinstance(action, StartTimer):
            self._start_timer(action.token, action.seconds)
        elif isinstance(action, CancelTimer):
            timer = self._timers.pop(action.token, None)
            if timer is not None and timer.active():
                timer.cancel()
        elif isinstance(action, MenuChosen):
            self._journal.event(
                "ivr.choice",
                self.record,
                node=action.node,
                digit=action.digit,
                choice=action.choice,
            )
        elif isinstance(action, HoursChecked):
            self._journal.event("ivr.hours", self.record, node=action.node, open=action.open)
        elif isinstance(action, DigitsCollected):
            self._journal.event(
                "ivr.collected", self.record, node=action.node, variable=action.variable
            )
        elif isinstance(action, EnterQueue):
            self.record.enqueue(action.queue, action.priority, now)
            self._journal.event(
                "call.queued",
                self.record,
                queue=action.queue,
                priority=action.priority,
                skills=dict(action.skills),
            )
            self._hold()
            if self.on_queued is not None:
                self.on_queued(self, action)
        elif isinstance(action, Transfer):
            self._transfer(action.target)
        elif isinstance(action, Hangup):
            self._journal.event("ivr.hangup", self.record, reason=action.reason)
            self._send(media.Hangup(self.call_id))  # answered: a BYE, the code is unused

    def _transfer(self, target: str) -> None:
        """Blind transfer: the worker REFERs the caller; its outcome arrives as an event."""
        self.record.transfer(target)
        self._journal.event("call.transferring", self.record, target=target)
        try:
            command = media.Transfer(self.call_id, target)
        except media.ProtocolError as exc:  # a target SIP cannot carry (e.g. with spaces)
            self.transfer_failed(None, f"bad target: {exc}")
            return
        self._send(command)

    def _play(self, action: Play) -> None:
        self._playing = action.token
        d = self._prompts.resolve(action.prompts)

        def send(files: list[Path]) -> None:
            if self._playing == action.token:  # the engine has not moved on while rendering
                self._send(media.Play(self.call_id, tuple(str(f) for f in files), action.token))

        def failed(failure: Failure) -> None:
            # A prompt that cannot be rendered must not strand the caller in silence:
            # the flow goes on as if it had been played, and the fault is logged.
            log.error("call %s: prompt failed: %s", self.call_id, failure.getErrorMessage())
            self._clock.callLater(0, self.playback_done, action.token)

        d.addCallbacks(send, failed)

    def _hold(self) -> None:
        """A queued caller waits on music on hold until an agent's leg is bridged in."""
        self._playing = None
        self._send(media.Play(self.call_id, (str(self._hold_music),), "hold", loop=True))

    def _start_timer(self, token: str, seconds: float) -> None:
        old = self._timers.pop(token, None)
        if old is not None and old.active():
            old.cancel()

        def fire() -> None:
            self._timers.pop(token, None)
            if not self.ivr.finished:
                self._run(self.ivr.timer_fired(token))

        self._timers[token] = self._clock.callLater(seconds, fire)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
