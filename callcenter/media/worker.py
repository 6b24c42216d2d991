"""A media worker process: one pjsua2 Endpoint that obeys commands and reports events.

Run as ``python -m callcenter.media.worker`` by the pool, commands on fd 3 and events on fd 4
(JSON lines, see :mod:`callcenter.media.protocol`), logs on stderr. It holds no business logic:
the controller decides when to ring, answer, play and hang up.

Threading rule (pjsua2 aborts otherwise): pjsua2 is only ever called from the main thread, which
blocks in ``libHandleEvents``. Other threads (the command reader, pjsua2's media threads calling
``onEof2``) only post to the :class:`~callcenter.media.channel.Inbox`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pjsua2 as pj

from callcenter.media import dialing, protocol
from callcenter.media.calls import MediaCall, Playback, WorkerAccount
from callcenter.media.channel import Doorbell, EventWriter, Inbox, start_reader
from callcenter.media.endpoint import EndpointSettings, account_config, create_endpoint
from callcenter.media.tap import TapHub, TapPort
from callcenter.media.transfer import TransferProgress, refer_uri, request_uri

log = logging.getLogger("callcenter.media.worker")

POLL_MS = 200
SHUTDOWN_GRACE_SECONDS = 2.0
# After a successful transfer the caller usually sends its own BYE at once; if it has not
# within this time we end our leg (RFC 5589: the transferor may hang up after a 2xx NOTIFY).
TRANSFER_BYE_GRACE_SECONDS = 1.5


class CommandError(Exception):
    """A command that cannot be carried out; reported as an ``error`` event."""


def describe_error(exc: BaseException) -> str:
    """pjsua2's ``Error`` carries its text in ``info()``; anything else in ``str()``."""
    info = getattr(exc, "info", None)
    return str(info()) if callable(info) else str(exc)


@dataclass
class Leg:
    """What the worker knows about one call it holds."""

    call: MediaCall
    dialled: str = ""  # the INVITE's Request-URI: bare transfer targets go to its host
    audio: pj.AudioMedia | None = None
    playback: Playback | None = None
    answered: bool = False
    hangup_requested: bool = False
    ended: bool = False
    transfer: TransferProgress | None = None
    peer: str | None = None  # a dial leg: the caller it was placed for (and ends with)
    ringing: bool = False  # a dial leg: leg_ringing sent
    failure: tuple[int, str] | None = None  # a dial leg: why we ended it unanswered
    partner: str | None = None  # bridged with this call: they end together
    held: bool = False  # a dial leg: the agent's phone holds the call (leg_hold sent)

    @property
    def outbound(self) -> bool:
        return self.peer is not None


@dataclass
class Tap:
    """An open audio tap: its bridge port and the calls it listens to and talks to."""

    port: TapPort
    listen_to: tuple[str, ...]
    talk_to: tuple[str, ...]


# pjsua2 holds at most 32 recorders per process; a conversation takes two.
MAX_RECORDERS = 32


@dataclass
class Recording:
    """One conversation being recorded: a mono recorder per party, fed by the bridge.

    A pause mutes what the recorders receive (``adjustRxLevel(0)``) instead of disconnecting
    them: measured here, a recorder with no source writes no frames at all, so a
    disconnected pause would shorten the file; a muted one keeps its length as silence."""

    left: str  # the caller's call id
    right: str  # the agent leg's id; "" for an IVR recording (right: what is played to left)
    left_file: str
    right_file: str
    recorders: list[pj.AudioMediaRecorder]
    started: float  # monotonic
    paused: bool = False


class Worker:
    """Maps commands to pjsua2 calls and pjsua2 callbacks to events."""

    def __init__(
        self,
        ep: pj.Endpoint,
        sip_port: int,
        settings: EndpointSettings,
        events: EventWriter,
        inbox: Inbox,
        proxy: str | None = None,
    ) -> None:
        self.ep = ep
        self.sip_port = sip_port
        self.settings = settings
        self.events = events
        self.inbox = inbox
        self.legs: dict[str, Leg] = {}
        self.account: WorkerAccount | None = WorkerAccount(self)
        config = account_config(settings, sip_port)
        if proxy:
            # Outbound proxy: our own INVITEs (agent legs) go to the SIP front, which finds the
            # agent's phone. In-dialog requests follow the Record-Route set as before.
            config.sipConfig.proxies.append(proxy)
        self.account.create(config, True)
        self._later: list[Callable[[], None]] = []
        self._timers: list[tuple[float, Callable[[], None]]] = []  # (monotonic deadline, job)
        self._stopping = False
        self.tap_hub = TapHub()
        self.taps: dict[str, Tap] = {}
        self.recordings: dict[str, Recording] = {}  # by the recording's name (caller's call id)
        self._commands: dict[type[Any], Callable[[Any], None]] = {
            protocol.Ring: self._ring,
            protocol.Answer: self._answer,
            protocol.Play: self._play,
            protocol.StopPlay: self._stop_play,
            protocol.Hangup: self._hangup,
            protocol.Transfer: self._transfer,
            protocol.Dial: self._dial,
            protocol.CancelDial: self._cancel_dial,
            protocol.Bridge: self._bridge,
            protocol.Unbridge: self._unbridge,
            protocol.TapOpen: self._tap_open,
            protocol.TapSet: self._tap_set,
            protocol.TapClose: self._tap_close,
            protocol.Record: self._record,
            protocol.RecordIvr: self._record_ivr,
            protocol.PauseRecord: self._pause_record,
            protocol.ResumeRecord: self._resume_record,
            protocol.StopRecord: self._stop_record,
            protocol.StatsRequest: self._stats,
            protocol.Shutdown: self._shutdown,
        }

    # -- main loop -------------------------------------------------------------------------

    def run(self) -> int:
        self.events.send(
            protocol.Ready(sip_port=self.sip_port, pid=os.getpid(), tap_port=self.tap_hub.port)
        )
        log.info("ready on SIP 127.0.0.1:%d, pid %d", self.sip_port, os.getpid())
        while not self._stopping:
            self.ep.libHandleEvents(POLL_MS)
            self._drain()
            if self.events.broken:
                log.warning("event pipe closed; shutting down")
                self._stopping = True
        self._close()
        return 0

    def _drain(self) -> None:
        for item in self.inbox.drain():
            if isinstance(item, protocol.ProtocolError):
                log.warning("bad command: %s", item)
                self.events.send(protocol.Error(call=item.call, cmd=item.cmd, message=str(item)))
            elif callable(item) and not isinstance(item, protocol.Command):
                item()
            else:
                self._execute(item)
        while self._later:
            later, self._later = self._later, []
            for job in later:
                job()
        if self._timers:
            now = time.monotonic()
            due = [job for deadline, job in self._timers if deadline <= now]
            self._timers = [(deadline, job) for deadline, job in self._timers if deadline > now]
            for job in due:
                job()

    def _execute(self, command: protocol.Command) -> None:
        call = getattr(command, "call", None) or getattr(command, "a", None)
        try:
            self._commands[type(command)](command)
        except CommandError as exc:
            self.events.send(protocol.Error(call=call, cmd=command.name, message=str(exc)))
        except Exception as exc:  # pjsua2 raises pj.Error; never let a command kill the worker
            message = describe_error(exc)
            log.warning("%s failed: %s", command.name, message)
            self.events.send(protocol.Error(call=call, cmd=command.name, message=message))

    def _close(self) -> None:
        """Hang up everything, let the BYEs/final responses go out, destroy in pjsua2's order:
        players and calls, then the account, then the library."""
        self._timers.clear()
        for leg in self.legs.values():
            leg.hangup_requested = True
        if self.legs:
            self.ep.hangupAllCalls()
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        while any(not leg.ended for leg in self.legs.values()) and time.monotonic() < deadline:
            self.ep.libHandleEvents(50)
            self._drain()
        self._drain()
        for name in list(self.recordings):  # closes the files before the library goes
            self._finish_recording(name)
        for leg in self.legs.values():
            leg.playback = None
        for tap_id in list(self.taps):
            self._tap_close(protocol.TapClose(tap_id))
        self.tap_hub.close()
        self.legs.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        # Calls are already gone (the loop above); skip pjsua's fixed 1 s wait for unregistration.
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
        log.info("stopped")

    # -- commands --------------------------------------------------------------------------

    def _leg(self, call_id: str) -> Leg:
        leg = self.legs.get(call_id)
        if leg is None or leg.ended:
            raise CommandError(f"no such call {call_id!r}")
        return leg

    def _ring(self, cmd: protocol.Ring) -> None:
        leg = self._leg(cmd.call)
        prm = pj.CallOpParam()
        prm.statusCode = 180
        leg.call.answer(prm)

    def _answer(self, cmd: protocol.Answer) -> None:
        leg = self._leg(cmd.call)
        prm = pj.CallOpParam()
        prm.statusCode = 200
        leg.call.answer(prm)

    def _play(self, cmd: protocol.Play) -> None:
        leg = self._leg(cmd.call)
        if leg.audio is None:
            raise CommandError("call has no active audio (answer it first)")
        missing = [f for f in cmd.files if not os.path.isfile(f)]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        leg.playback = None  # replaces (and destroys) the current playback, without play_done
        player = Playback(self, cmd.call, cmd.token, cmd.loop)
        options = 0 if cmd.loop else pj.PJMEDIA_FILE_NO_LOOP
        if len(cmd.files) == 1:
            player.createPlayer(cmd.files[0], options)
        else:
            player.createPlaylist(list(cmd.files), cmd.token[:32], options)
        player.startTransmit(leg.audio)
        for recording in self.recordings.values():
            if recording.left == cmd.call and not recording.right:  # IVR recording: prompts
                player.startTransmit(recording.recorders[1])
        leg.playback = player

    def _stop_play(self, cmd: protocol.StopPlay) -> None:
        self._leg(cmd.call).playback = None

    def _hangup(self, cmd: protocol.Hangup) -> None:
        leg = self._leg(cmd.call)
        leg.hangup_requested = True
        prm = pj.CallOpParam()
        prm.statusCode = cmd.code
        leg.call.hangup(prm)

    def _transfer(self, cmd: protocol.Transfer) -> None:
        leg = self._leg(cmd.call)
        if not leg.answered:
            raise CommandError("call is not answered: a REFER needs a confirmed dialog")
        if leg.transfer is not None and not leg.transfer.decided:
            raise CommandError("a transfer of this call is already under way")
        try:
            uri = refer_uri(cmd.target, leg.dialled)
        except ValueError as exc:
            raise CommandError(f"cannot build a transfer URI: {exc}") from None
        leg.call.xfer(uri, pj.CallOpParam())
        leg.transfer = TransferProgress(call=cmd.call, uri=uri)
        log.info("call %s: REFER to %s", cmd.call, uri)

    def _dial(self, cmd: protocol.Dial) -> None:
        if self.account is None or self._stopping:
            raise CommandError("worker is stopping")
        if cmd.call in self.legs:
            raise CommandError(f"call id {cmd.call!r} is already in use")
        if cmd.peer:  # no peer: a call of its own (a supervisor rung to monitor a call)
            self._leg(cmd.peer)
        prm = pj.CallOpParam(True)
        prm.txOption.localUri = dialing.from_header(cmd.caller_id, cmd.display, cmd.uri)
        for name, value in cmd.headers:
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        call = MediaCall(self.account, pj.PJSUA_INVALID_ID, self)
        call.sip_call_id = cmd.call  # the controller's name for the leg, used in every event
        leg = Leg(call=call, dialled=cmd.uri, peer=cmd.peer)
        self.legs[cmd.call] = leg  # before makeCall: pjsua2 may call back from inside it
        try:
            call.makeCall(cmd.uri, prm)
        except Exception as exc:
            leg.ended = True
            del self.legs[cmd.call]
            message = describe_error(exc)
            log.warning("dial %s to %s failed: %s", cmd.call, cmd.uri, message)
            self.events.send(
                protocol.LegFailed(call=cmd.call, code=dialing.NOT_PLACED, reason=message[:200])
            )
            return
        log.info("dial %s (for %s) to %s", cmd.call, cmd.peer, cmd.uri)
        call_id = cmd.call
        deadline = time.monotonic() + cmd.timeout
        self._timers.append((deadline, lambda: self._withdraw(call_id, dialing.TIMEOUT)))

    def _cancel_dial(self, cmd: protocol.CancelDial) -> None:
        leg = self.legs.get(cmd.call)
        if leg is None or leg.ended:
            return  # already over (answered and hung up, failed, or never placed)
        if not leg.outbound:
            raise CommandError("not a dial leg: use hangup")
        if leg.answered:
            raise CommandError("the leg is answered: use hangup")
        self._withdraw(cmd.call, dialing.WITHDRAWN)

    def _withdraw(self, call_id: str, why: tuple[int, str]) -> None:
        """End an unanswered dial leg (ring timeout, cancel_dial, caller gone): CANCEL."""
        leg = self.legs.get(call_id)
        if leg is None or leg.ended or not leg.outbound or leg.answered:
            return
        leg.failure = why
        leg.hangup_requested = True
        try:
            leg.call.hangup(pj.CallOpParam())
        except Exception as exc:  # already disconnecting
            log.info("withdrawing %s: %s", call_id, describe_error(exc))

    def _bridge(self, cmd: protocol.Bridge) -> None:
        a, b = self._leg(cmd.a), self._leg(cmd.b)
        for name, leg in ((cmd.a, a), (cmd.b, b)):
            if not leg.answered:
                raise CommandError(f"call {name!r} is not answered")
            if leg.partner not in (None, cmd.a, cmd.b):
                raise CommandError(f"call {name!r} is bridged with {leg.partner!r}")
        a.playback = None  # hold music or a prompt would talk over the agent
        b.playback = None
        a.partner, b.partner = cmd.b, cmd.a
        self._connect(a, b)
        log.info("bridged %s and %s", cmd.a, cmd.b)

    def _connect(self, a: Leg, b: Leg) -> None:
        """Both directions through the conference bridge, once both have audio (again)."""
        if a.audio is not None and b.audio is not None:
            a.audio.startTransmit(b.audio)
            b.audio.startTransmit(a.audio)

    def _unbridge(self, cmd: protocol.Unbridge) -> None:
        a, b = self._leg(cmd.a), self._leg(cmd.b)
        if a.partner != cmd.b or b.partner != cmd.a:
            raise CommandError(f"{cmd.a!r} and {cmd.b!r} are not bridged")
        a.partner = b.partner = None
        if a.audio is not None and b.audio is not None:
            a.audio.stopTransmit(b.audio)
            b.audio.stopTransmit(a.audio)

    def _tap_open(self, cmd: protocol.TapOpen) -> None:
        if cmd.tap in self.taps:
            raise CommandError(f"tap {cmd.tap!r} is already open")
        port = self.tap_hub.open(cmd.tap, (cmd.peer_host, cmd.peer_port), cmd.peer_tap)
        tap = Tap(port, (), ())
        self.taps[cmd.tap] = tap
        self._wire_tap(tap, cmd.listen_to, cmd.talk_to)
        log.info("tap %s open to %s:%d", cmd.tap, cmd.peer_host, cmd.peer_port)

    def _tap_set(self, cmd: protocol.TapSet) -> None:
        tap = self.taps.get(cmd.tap)
        if tap is None:
            raise CommandError(f"no such tap {cmd.tap!r}")
        self._wire_tap(tap, cmd.listen_to, cmd.talk_to)

    def _tap_close(self, cmd: protocol.TapClose) -> None:
        tap = self.taps.pop(cmd.tap, None)
        if tap is None:
            return
        self._wire_tap(tap, (), ())
        counters = tap.port.counters()
        self.tap_hub.release(cmd.tap)
        log.info("tap %s closed: %s", cmd.tap, counters)
        self.events.send(protocol.TapClosed(tap=cmd.tap, **vars(counters)))

    def _wire_tap(self, tap: Tap, listen_to: tuple[str, ...], talk_to: tuple[str, ...]) -> None:
        """Make the tap's bridge connections match ``listen_to``/``talk_to``; calls without
        media yet are connected by :meth:`_rewire_taps` when it comes up."""
        for call_id in set(tap.listen_to) - set(listen_to):
            audio = self._audio_of(call_id)
            if audio is not None:
                audio.stopTransmit(tap.port)
        for call_id in set(tap.talk_to) - set(talk_to):
            audio = self._audio_of(call_id)
            if audio is not None:
                tap.port.stopTransmit(audio)
        recorders = self._tap_recorders(tap)
        tap.listen_to, tap.talk_to = listen_to, talk_to
        for recorder in recorders:
            if all(recorder is not kept for kept in self._tap_recorders(tap)):
                tap.port.stopTransmit(recorder)
        self._connect_tap(tap)

    def _connect_tap(self, tap: Tap) -> None:
        for call_id in tap.listen_to:
            audio = self._audio_of(call_id)
            if audio is not None:
                audio.startTransmit(tap.port)
        for call_id in tap.talk_to:
            audio = self._audio_of(call_id)
            if audio is not None:
                tap.port.startTransmit(audio)
        for recorder in self._tap_recorders(tap):
            tap.port.startTransmit(recorder)

    def _tap_recorders(self, tap: Tap) -> list[pj.AudioMediaRecorder]:
        """Recorders a tap feeds: a supervisor who barges in (heard by caller and agent) is
        part of the conversation, so the recording has them on the agent's side; a whisper,
        which the caller never hears, is not recorded."""
        return [
            recording.recorders[1]
            for recording in self.recordings.values()
            if recording.right and {recording.left, recording.right} <= set(tap.talk_to)
        ]

    def _rewire_taps(self, call_id: str) -> None:
        for tap in self.taps.values():
            if call_id in tap.listen_to or call_id in tap.talk_to:
                self._connect_tap(tap)

    def _audio_of(self, call_id: str) -> pj.AudioMedia | None:
        leg = self.legs.get(call_id)
        return None if leg is None or leg.ended else leg.audio

    def _record(self, cmd: protocol.Record) -> None:
        if cmd.call in self.recordings:
            raise CommandError(f"recording {cmd.call!r} is already running")
        legs = (self._leg(cmd.left), self._leg(cmd.right))
        for name, leg in zip((cmd.left, cmd.right), legs, strict=True):
            if leg.audio is None:
                raise CommandError(f"call {name!r} has no active audio")
        recorders = self._recorders((cmd.left_file, cmd.right_file))
        # Back to back, in one step of this thread: the two files start within a frame.
        for leg, recorder in zip(legs, recorders, strict=True):
            assert leg.audio is not None
            leg.audio.startTransmit(recorder)
        self.recordings[cmd.call] = Recording(
            cmd.left, cmd.right, cmd.left_file, cmd.right_file, recorders, time.monotonic()
        )
        log.info("recording %s (%s | %s)", cmd.call, cmd.left, cmd.right)
        self.events.send(protocol.RecordStarted(call=cmd.call))

    def _record_ivr(self, cmd: protocol.RecordIvr) -> None:
        if cmd.call in self.recordings:
            raise CommandError(f"recording {cmd.call!r} is already running")
        leg = self._leg(cmd.leg)
        if leg.audio is None:
            raise CommandError(f"call {cmd.leg!r} has no active audio")
        recorders = self._recorders((cmd.left_file, cmd.right_file))
        leg.audio.startTransmit(recorders[0])
        if leg.playback is not None:  # a prompt already playing (the greeting)
            leg.playback.startTransmit(recorders[1])
        self.recordings[cmd.call] = Recording(
            cmd.leg, "", cmd.left_file, cmd.right_file, recorders, time.monotonic()
        )
        log.info("recording %s (IVR of %s)", cmd.call, cmd.leg)
        self.events.send(protocol.RecordStarted(call=cmd.call))

    def _recorders(self, paths: tuple[str, str]) -> list[pj.AudioMediaRecorder]:
        if 2 * (len(self.recordings) + 1) > MAX_RECORDERS:
            raise CommandError(f"no recorder left ({MAX_RECORDERS} per worker)")
        recorders: list[pj.AudioMediaRecorder] = []
        for path in paths:
            recorder = pj.AudioMediaRecorder()
            try:
                recorder.createRecorder(path)
            except Exception as exc:
                recorders.clear()
                raise CommandError(f"cannot record to {path}: {describe_error(exc)}") from None
            recorders.append(recorder)
        return recorders

    def _recording(self, name: str) -> Recording:
        recording = self.recordings.get(name)
        if recording is None:
            raise CommandError(f"no recording {name!r}")
        return recording

    def _pause_record(self, cmd: protocol.PauseRecord) -> None:
        recording = self._recording(cmd.call)
        for recorder in recording.recorders:
            recorder.adjustRxLevel(0.0)
        recording.paused = True

    def _resume_record(self, cmd: protocol.ResumeRecord) -> None:
        recording = self._recording(cmd.call)
        for recorder in recording.recorders:
            recorder.adjustRxLevel(1.0)
        recording.paused = False

    def _stop_record(self, cmd: protocol.StopRecord) -> None:
        if cmd.call in self.recordings:
            self._finish_recording(cmd.call)

    def _finish_recording(self, name: str) -> None:
        """Close both files (destroying a recorder writes its WAV header), then report."""
        recording = self.recordings.pop(name)
        seconds = time.monotonic() - recording.started
        recording.recorders.clear()
        log.info("recording %s over after %.1f s", name, seconds)
        self.events.send(
            protocol.Recorded(
                call=name,
                left_file=recording.left_file,
                right_file=recording.right_file,
                seconds=round(seconds, 3),
            )
        )

    def _stats(self, cmd: protocol.StatsRequest) -> None:
        live = [leg for leg in self.legs.values() if not leg.ended]
        self.events.send(
            protocol.Stats(
                calls=len(live),
                extra={
                    "answered": sum(1 for leg in live if leg.answered),
                    "players": sum(1 for leg in live if leg.playback is not None),
                    "recordings": len(self.recordings),
                    "max_calls": self.settings.max_calls,
                    "pid": os.getpid(),
                    "sip_port": self.sip_port,
                },
            )
        )

    def _shutdown(self, cmd: protocol.Shutdown) -> None:
        self._stopping = True

    # -- pjsua2 callbacks (CallListener) ---------------------------------------------------

    def incoming(self, call_id: int, invite: str) -> None:
        if self.account is None or self._stopping:
            return
        call = MediaCall(self.account, call_id, self)
        info = call.getInfo()
        call.sip_call_id = info.callIdString
        # The reference keeps pjsua2 from answering 603.
        dialled = request_uri(invite) or info.localUri
        self.legs[call.sip_call_id] = Leg(call=call, dialled=dialled)
        self.events.send(
            protocol.Incoming(call=call.sip_call_id, from_uri=info.remoteUri, to_uri=info.localUri)
        )

    def call_state(self, call: MediaCall) -> None:
        info = call.getInfo()
        leg = self.legs.get(call.sip_call_id)
        if leg is None or leg.ended:
            return
        if info.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            if leg.outbound:
                self._dial_progress(call.sip_call_id, leg, info.state, info.lastStatusCode)
            return
        leg.ended = True
        if leg.transfer is not None:
            outcome = leg.transfer.on_call_ended()
            if outcome is not None:
                self.events.send(outcome)
        call_id = call.sip_call_id
        if leg.outbound and not leg.answered:
            code, reason = dialing.failure(info.lastStatusCode, info.lastReason, leg.failure)
            log.info("dial %s failed: %d %s", call_id, code, reason)
            self.events.send(protocol.LegFailed(call=call_id, code=code, reason=reason))
        else:
            self.events.send(
                protocol.HungUp(
                    call=call_id,
                    code=info.lastStatusCode,
                    reason=info.lastReason,
                    by="local" if leg.hangup_requested else "remote",
                )
            )
        # pjsua2 still uses the Call inside this callback: let go of it after we return, and
        # end what cannot outlive it (its bridge partner, the agent legs placed for it).
        self._later.append(lambda: self._forget(call_id, leg))
        self._later.append(lambda: self._end_dependants(call_id, leg))

    def _dial_progress(self, call_id: str, leg: Leg, state: int, status: int) -> None:
        if state == pj.PJSIP_INV_STATE_EARLY and status in (180, 183) and not leg.ringing:
            leg.ringing = True
            self.events.send(protocol.LegRinging(call=call_id))
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not leg.answered:
            leg.answered = True
            self.events.send(protocol.LegAnswered(call=call_id))
            partner = self.legs.get(leg.partner) if leg.partner else None
            if partner is not None:
                self._connect(leg, partner)

    def _end_dependants(self, call_id: str, ended: Leg) -> None:
        """Either side of a bridged pair hanging up ends both legs; an agent leg never outlives
        the caller it was dialled for (ringing: withdrawn with 487; answered: hung up)."""
        doomed = [
            (name, leg)
            for name, leg in self.legs.items()
            if not leg.ended and (name == ended.partner or leg.peer == call_id)
        ]
        for name, leg in doomed:
            if leg.outbound and not leg.answered:
                self._withdraw(name, dialing.WITHDRAWN)
                continue
            log.info("%s ended: hanging up %s too", call_id, name)
            leg.partner = None
            leg.hangup_requested = True
            try:
                leg.call.hangup(pj.CallOpParam())
            except Exception as exc:  # already disconnecting
                log.info("hangup of %s: %s", name, describe_error(exc))

    def _forget(self, call_id: str, leg: Leg) -> None:
        for name, recording in list(self.recordings.items()):
            if call_id in (recording.left, recording.right):
                self._finish_recording(name)
        leg.playback = None
        leg.audio = None
        if self.legs.get(call_id) is leg:
            del self.legs[call_id]

    def media_state(self, call: MediaCall) -> None:
        leg = self.legs.get(call.sip_call_id)
        if leg is None or leg.ended:
            return
        info = call.getInfo()
        if leg.outbound and leg.answered:
            self._hold_state(call.sip_call_id, leg, info)
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                leg.audio = call.getAudioMedia(media.index)
                if leg.playback is not None:  # media changed under a playback (re-INVITE)
                    leg.playback.startTransmit(leg.audio)
                partner = self.legs.get(leg.partner) if leg.partner else None
                if partner is not None and not partner.ended:
                    self._connect(leg, partner)
                if self.taps:
                    self._rewire_taps(call.sip_call_id)
                self._reconnect_recorders(call.sip_call_id, leg.audio)
                if leg.outbound:
                    return  # early media is not an answer: leg_answered comes with CONFIRMED
                if not leg.answered:
                    leg.answered = True
                    self.events.send(protocol.Answered(call=call.sip_call_id))
                return

    def _hold_state(self, call_id: str, leg: Leg, info: Any) -> None:
        """An agent's phone holding the caller re-INVITEs with ``sendonly``/``inactive``:
        pjsua reports its audio as held by the remote; back to active when it resumes."""
        states = {m.status for m in info.media if m.type == pj.PJMEDIA_TYPE_AUDIO}
        if pj.PJSUA_CALL_MEDIA_REMOTE_HOLD in states:
            held = True
        elif pj.PJSUA_CALL_MEDIA_ACTIVE in states:
            held = False
        else:
            return  # no audio negotiated (yet): nothing to tell
        if held != leg.held:
            leg.held = held
            self.events.send(protocol.LegHold(call=call_id, held=held))

    def _reconnect_recorders(self, call_id: str, audio: pj.AudioMedia) -> None:
        """New media under a recording (re-INVITE): feed its recorder from the new port."""
        for recording in self.recordings.values():
            if call_id == recording.left:
                audio.startTransmit(recording.recorders[0])
            elif call_id == recording.right:
                audio.startTransmit(recording.recorders[1])

    def dtmf_digit(self, call: MediaCall, digit: str, method: int) -> None:
        # May run on a pjsua2 media thread: only write an event, touch nothing else. pjsua2
        # reports SIP INFO application/dtmf-relay digits here too (method SIP_INFO).
        how: protocol.DtmfMethod = "info" if method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
        self.events.send(protocol.Dtmf(call=call.sip_call_id, digit=digit, method=how))

    def transfer_status(self, call: MediaCall, code: int, reason: str, final: bool) -> None:
        leg = self.legs.get(call.sip_call_id)
        if leg is None or leg.ended or leg.transfer is None:
            return
        self._transfer_outcome(leg, leg.transfer.on_status(code, reason, final))

    def refer_answered(self, call: MediaCall, code: int, reason: str) -> None:
        leg = self.legs.get(call.sip_call_id)
        if leg is None or leg.ended or leg.transfer is None:
            return
        self._transfer_outcome(leg, leg.transfer.on_refer_response(code, reason))

    def _transfer_outcome(
        self, leg: Leg, outcome: protocol.Transferred | protocol.TransferFailed | None
    ) -> None:
        if outcome is None:
            return
        log.info("call %s: %s", outcome.call, protocol.encode(outcome).decode().strip())
        self.events.send(outcome)
        if isinstance(outcome, protocol.Transferred) and not leg.ended:
            # Only the Call-ID is kept: a Call object outliving libDestroy() aborts the process.
            call_id = outcome.call
            deadline = time.monotonic() + TRANSFER_BYE_GRACE_SECONDS
            self._timers.append((deadline, lambda: self._end_transferred(call_id)))

    def _end_transferred(self, call_id: str) -> None:
        """The caller took the transfer but kept its leg with us: hang it up ourselves."""
        leg = self.legs.get(call_id)
        if leg is None or leg.ended:
            return
        leg.hangup_requested = True
        try:
            leg.call.hangup(pj.CallOpParam())
        except Exception as exc:  # already disconnecting: nothing left to do
            log.info("hangup after transfer: %s", describe_error(exc))

    def playback_ended(self, player: Playback) -> None:
        # Runs on the media clock thread: the player may only be destroyed on the main thread.
        self.inbox.post(lambda: self._finish_playback(player))

    def _finish_playback(self, player: Playback) -> None:
        leg = self.legs.get(player.sip_call_id)
        if leg is None or leg.playback is not player:
            return  # replaced or stopped meanwhile: no play_done
        leg.playback = None
        self.events.send(protocol.PlayDone(call=player.sip_call_id, token=player.token))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="callcenter media worker (pjsua2)")
    parser.add_argument("--sip-port", type=int, default=0)
    parser.add_argument("--rtp-port-start", type=int, required=True)
    parser.add_argument("--rtp-port-count", type=int, default=40)
    parser.add_argument("--media-address", default="127.0.0.1")
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument(
        "--proxy", default=None, help="outbound proxy for dial legs, e.g. sip:127.0.0.1:5060;lr"
    )
    parser.add_argument("--command-fd", type=int, default=3)
    parser.add_argument("--event-fd", type=int, default=4)
    parser.add_argument("--pj-log-level", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # pjsip prints to stdout before its log config applies; stdout is not ours to pollute.
    os.dup2(2, 1)
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level,
        format="%(asctime)s %(levelname)s media[%(process)d] %(name)s: %(message)s",
    )
    for fd in (args.command_fd, args.event_fd):
        try:
            os.fstat(fd)
        except OSError:
            log.error("fd %d is not open: run me from the worker pool", fd)
            return 2
    settings = EndpointSettings(
        sip_port=args.sip_port,
        rtp_port_start=args.rtp_port_start,
        rtp_port_count=args.rtp_port_count,
        media_address=args.media_address,
        max_calls=args.calls,
        pj_log_level=args.pj_log_level,
    )
    ep, sip_port = create_endpoint(settings)
    doorbell = Doorbell(sip_port)
    inbox = Inbox(doorbell)
    worker = Worker(ep, sip_port, settings, EventWriter(args.event_fd), inbox, args.proxy)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        inbox.post(protocol.Shutdown(), wake=False)  # handler runs on the main thread

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start_reader(args.command_fd, inbox)
    code = worker.run()
    doorbell.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
