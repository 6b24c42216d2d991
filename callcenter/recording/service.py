"""Recording in the running service: start, pause, resume, save, and the alarm.

When routing bridges a caller with an agent, the queue's policy decides (``always``,
``never``, ``"NN%"``); a recorded conversation gets a ``record`` command: the worker records
each party into the spool directory and reports ``recorded`` when the conversation ends. The
stereo file and its sidecar are then made in the reactor's thread pool
(:func:`callcenter.recording.files.save`).

A recording that cannot be made (recorder refused, disk full, directory not writable, worker
crash) is never a silent gap: it is an alarm, all at once a ``recording.failed`` event, an
ERROR log line, the ``callcenter_recording_failures_total`` counter and the ``recordings`` part
of ``/healthz`` turning degraded (until a recording is saved again). The call carries on.

-*- test-case-name: tests.e2e.test_recording -*-
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from callcenter.domain.recording import (
    CONVERSATION,
    IVR,
    Pauses,
    file_stem,
    relative_path,
    should_record,
)
from callcenter.media import protocol as media
from callcenter.recording.files import Finished, RecordingError, check_writable

log = logging.getLogger(__name__)

FAILURES = Counter(
    "callcenter_recording_failures_total",
    "Recordings that could not be made or saved (each one also a recording.failed event)",
)
SAVED = Counter("callcenter_recordings_saved_total", "Recordings saved with their sidecar")

# While a conversation lasts its spool tracks are checked this often: a track that stopped
# growing (disk full) alarms during the call, not only when it ends.
WATCH_SECONDS = 5.0
# A track may lag the time it has run by the recorder's write buffer and the start latency.
WATCH_SLACK_SECONDS = 2.0
BYTES_PER_SECOND = 8000 * 2  # 8 kHz, 16-bit mono
WAV_HEADER_BYTES = 44

RECORD_COMMANDS = frozenset({"record", "pause_record", "resume_record", "stop_record"})


class MediaPool(Protocol):
    def send(self, call_id: str, command: media.Command) -> None: ...


class EventSink(Protocol):
    def append(self, event_type: str, call_id: str, **data: Any) -> None: ...


class RecordingStateError(Exception):
    """A pause or resume that cannot apply; ``error_id`` and ``status`` for the API."""

    def __init__(self, error_id: str, status: int, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.status = status


def audio_url(call_id: str, leg: str = CONVERSATION) -> str:
    if leg == IVR:
        return f"/api/recordings/{call_id}/ivr/audio"
    return f"/api/recordings/{call_id}/audio"


def ivr_name(call_id: str) -> str:
    """The worker's name for a call's IVR recording (the conversation's is the call id)."""
    return f"{call_id}#ivr"


@dataclass
class Active:
    """A conversation being recorded."""

    call_id: str
    leg: str
    caller: str
    agent: str
    queue: str
    left_file: Path
    right_file: Path
    requested_at: float
    started_at: float | None = None  # record_started
    leg_kind: str = CONVERSATION  # or IVR (left: the caller, right: what the IVR played)
    pauses: Pauses = field(default_factory=Pauses)
    failed: bool = False  # the alarm was raised during the call (a track stopped growing)


Saver = Callable[[Finished], "Deferred[dict[str, Any]]"]
SizeReader = Callable[[list[Path]], "Deferred[list[int | None]]"]


def track_sizes(paths: list[Path]) -> list[int | None]:
    """File sizes (None: missing); blocking, for the thread pool."""
    sizes: list[int | None] = []
    for path in paths:
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            sizes.append(None)
    return sizes


class RecordingService:
    def __init__(
        self,
        directory: Path,
        spool: Path,
        policies: Mapping[str, str],
        pool: MediaPool,
        events: EventSink,
        saver: Saver,
        wall_time: Callable[[], float] = time.time,
        codes: tuple[str, str] = ("*1", "*2"),
        ivr_leg: bool = False,
        rng: random.Random | None = None,
        sizes: SizeReader | None = None,
    ) -> None:
        self.directory = directory
        self.spool = spool
        self._policies = policies  # queue → always | never | NN%
        self._pool = pool
        self._events = events
        self._save = saver
        self._now = wall_time
        self._pause_code, self._resume_code = codes
        self._rng = rng or random.Random()
        self._sizes = sizes
        self.ivr_leg = ivr_leg
        self._watching = False
        self.active: dict[str, Active] = {}
        self._digits: dict[str, str] = {}  # recent agent digits per call (feature codes)
        self.saved = 0
        self.failures = 0
        self.last_failure: dict[str, Any] | None = None
        self.healthy = True

    def start(self) -> None:
        """Check the directories at once: an unwritable one alarms before the first call."""
        try:
            check_writable(self.directory, self.spool)
        except RecordingError as exc:
            self._alarm("", str(exc))

    def watch(self) -> None:
        """Check that every running recording's tracks keep growing (call every
        ``WATCH_SECONDS``): a full disk alarms during the call. The sizes are read in the
        thread pool; one check at a time."""
        running = [a for a in self.active.values() if a.started_at is not None and not a.failed]
        if self._sizes is None or self._watching or not running:
            return
        self._watching = True
        now = self._now()
        paths = [path for a in running for path in (a.left_file, a.right_file)]

        def check(sizes: list[int | None]) -> None:
            for index, active in enumerate(running):
                if active.failed or self.active.get(active.call_id) is not active:
                    continue  # over meanwhile: its end is checked by the save
                assert active.started_at is not None
                ran = now - active.started_at
                names = ("caller", "prompts" if active.leg_kind == IVR else "agent")
                for name, size in zip(names, sizes[2 * index : 2 * index + 2], strict=True):
                    held = max(0, (size or 0) - WAV_HEADER_BYTES) / BYTES_PER_SECOND
                    if held < ran - WATCH_SLACK_SECONDS:
                        active.failed = True
                        self._alarm(
                            active.call_id,
                            f"the {name} track holds {held:.1f} s of {ran:.1f} s recorded "
                            "so far (disk full or write error)",
                            active.leg_kind,
                        )
                        break

        def done(result: object) -> object:
            self._watching = False
            return result

        self._sizes(paths).addCallback(check).addBoth(done).addErrback(
            lambda f: log.error("recording watch failed: %s", f.getTraceback())
        )

    # --- from routing ------------------------------------------------------------------

    def call_answered(self, call_id: str, caller: str) -> None:
        """A caller reached the IVR: record that part too when ``recording.ivr_leg`` is on."""
        if not self.ivr_leg:
            return
        name = ivr_name(call_id)
        stem = file_stem(call_id)
        active = Active(
            call_id=call_id,
            leg="",
            caller=caller,
            agent="",
            queue="",
            left_file=(self.spool / f"{stem}.ivr.caller.wav").absolute(),
            right_file=(self.spool / f"{stem}.ivr.prompts.wav").absolute(),
            requested_at=self._now(),
            leg_kind=IVR,
        )
        self.active[name] = active
        try:
            self._pool.send(
                call_id,
                media.RecordIvr(name, call_id, str(active.left_file), str(active.right_file)),
            )
        except LookupError:
            self._fail(name, "the call left its media worker before recording started")

    def conversation_started(
        self, call_id: str, leg: str, caller: str, agent: str, queue: str
    ) -> None:
        """Caller and agent are bridged: the IVR part's recording (if any) ends, and the
        conversation is recorded if the queue's policy says so."""
        if ivr_name(call_id) in self.active:
            self._send(call_id, media.StopRecord(ivr_name(call_id)))
        policy = self._policies.get(queue, "always")
        if not should_record(policy, self._rng.random()):
            log.info("call %s: not recorded (queue %s: %s)", call_id, queue, policy)
            return
        stem = file_stem(call_id)
        active = Active(
            call_id=call_id,
            leg=leg,
            caller=caller,
            agent=agent,
            queue=queue,
            left_file=(self.spool / f"{stem}.caller.wav").absolute(),
            right_file=(self.spool / f"{stem}.agent.wav").absolute(),
            requested_at=self._now(),
        )
        self.active[call_id] = active
        try:
            self._pool.send(
                call_id,
                media.Record(call_id, call_id, leg, str(active.left_file), str(active.right_file)),
            )
        except LookupError:
            self._fail(call_id, "the call left its media worker before recording started")

    def agent_digit(self, call_id: str, agent: str, digit: str) -> None:
        """A key the agent pressed during the conversation: the pause/resume codes."""
        if call_id not in self.active:
            return
        longest = max(len(self._pause_code), len(self._resume_code))
        typed = (self._digits.get(call_id, "") + digit)[-longest:]
        self._digits[call_id] = typed
        try:
            if typed.endswith(self._pause_code):
                self._digits.pop(call_id, None)
                self.pause(call_id, agent, via="dtmf")
            elif typed.endswith(self._resume_code):
                self._digits.pop(call_id, None)
                self.resume(call_id, agent, via="dtmf")
        except RecordingStateError as exc:
            log.info("call %s: agent %s pressed %s: %s", call_id, agent, typed, exc)

    def calls_lost(self, call_ids: list[str]) -> None:
        for call_id in call_ids:
            for name in (call_id, ivr_name(call_id)):
                if name in self.active:
                    self._fail(name, "media worker crashed")

    # --- pause and resume (API and feature code) ------------------------------------------

    def recording_of(self, call_id: str) -> Active:
        active = self.active.get(call_id)
        if active is None or active.leg_kind != CONVERSATION:
            raise RecordingStateError(
                "recording-not-found", 404, f"call {call_id!r} is not being recorded"
            )
        return active

    def pause(self, call_id: str, by: str, via: str = "api") -> Active:
        active = self.recording_of(call_id)
        if not active.pauses.pause(by, self._now()):
            raise RecordingStateError("recording-paused", 409, "the recording is already paused")
        self._send(call_id, media.PauseRecord(call_id))
        self._events.append("recording.paused", call_id, by=by, via=via)
        log.info("call %s: recording paused by %s (%s)", call_id, by, via)
        return active

    def resume(self, call_id: str, by: str, via: str = "api") -> Active:
        active = self.recording_of(call_id)
        paused_at = active.pauses.items[-1].at if active.pauses.paused else None
        if paused_at is None or not active.pauses.resume(self._now()):
            raise RecordingStateError("recording-not-paused", 409, "the recording is not paused")
        self._send(call_id, media.ResumeRecord(call_id))
        seconds = round(self._now() - paused_at, 3)
        self._events.append("recording.resumed", call_id, by=by, via=via, seconds=seconds)
        log.info("call %s: recording resumed by %s (%s)", call_id, by, via)
        return active

    def _send(self, call_id: str, command: media.Command) -> None:
        with contextlib.suppress(LookupError):  # ending: ``recorded`` (or a failure) follows
            self._pool.send(call_id, command)

    # --- worker events ---------------------------------------------------------------------

    def handles(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("ev")
        if kind in ("record_started", "recorded"):
            return True
        return kind == "error" and event.get("cmd") in RECORD_COMMANDS

    def on_event(self, event: Mapping[str, Any]) -> None:
        name = str(event.get("call") or "")
        active = self.active.get(name)
        kind = event.get("ev")
        if active is None:
            log.warning("recording event for no recording: %s", dict(event))
            return
        call_id = active.call_id
        if kind == "record_started":
            active.started_at = self._now()
            path = relative_path(call_id, active.started_at, active.leg_kind)
            if active.leg_kind == IVR:
                self._events.append("recording.ivr_started", call_id, path=path)
            else:
                self._events.append(
                    "recording.started", call_id, agent=active.agent, queue=active.queue, path=path
                )
        elif kind == "recorded":
            self._finished(name, active, float(event.get("seconds", 0.0)))
        elif event.get("cmd") in ("record", "record_ivr"):
            self._fail(name, f"the recorder could not start: {event.get('message')}")
        else:
            log.warning("call %s: %s failed: %s", call_id, event.get("cmd"), event.get("message"))

    def _finished(self, name: str, active: Active, seconds: float) -> None:
        call_id = active.call_id
        del self.active[name]
        if active.leg_kind == CONVERSATION:
            self._digits.pop(call_id, None)
        if active.failed:  # alarmed during the call; the spool tracks are kept as they are
            log.error("call %s: recording not saved (failed during the call)", call_id)
            return
        if active.started_at is None:  # record_started lost: the request time is close
            active.started_at = active.requested_at
        ended_at = self._now()
        finished = Finished(
            call_id=call_id,
            caller=active.caller,
            agent=active.agent,
            queue=active.queue,
            started_at=active.started_at,
            ended_at=ended_at,
            left_file=active.left_file,
            right_file=active.right_file,
            seconds=seconds,
            pauses=[p.as_dict(ended_at) for p in active.pauses.items],
            leg=active.leg_kind,
        )
        saved_event = "recording.ivr_saved" if active.leg_kind == IVR else "recording.saved"

        def saved(sidecar: dict[str, Any]) -> None:
            self.saved += 1
            self.healthy = True
            SAVED.inc()
            self._events.append(
                saved_event,
                call_id,
                path=sidecar["file"],
                sha256=sidecar["sha256"],
                duration=sidecar["duration"],
                url=sidecar["url"],
            )
            log.info("call %s: recording saved to %s", call_id, sidecar["file"])

        def failed(failure: Failure) -> None:
            error = failure.value
            reason = str(error) if isinstance(error, RecordingError) else failure.getTraceback()
            self._alarm(call_id, reason, active.leg_kind)

        self._save(finished).addCallbacks(saved, failed)

    def _fail(self, name: str, reason: str) -> None:
        active = self.active.pop(name, None)
        call_id = active.call_id if active is not None else name
        kind = active.leg_kind if active is not None else CONVERSATION
        if kind == CONVERSATION:
            self._digits.pop(call_id, None)
        self._alarm(call_id, reason, kind)

    def _alarm(self, call_id: str, reason: str, leg: str = CONVERSATION) -> None:
        self.failures += 1
        self.healthy = False
        self.last_failure = {"call_id": call_id or None, "reason": reason, "at": self._now()}
        FAILURES.inc()
        log.error("recording of call %s failed: %s", call_id or "(none)", reason)
        if leg == IVR:
            self._events.append("recording.failed", call_id, reason=reason, leg=IVR)
        else:
            self._events.append("recording.failed", call_id, reason=reason)

    def health(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "directory": str(self.directory),
            "active": len(self.active),
            "saved": self.saved,
            "failures": self.failures,
            "last_failure": self.last_failure,
        }
