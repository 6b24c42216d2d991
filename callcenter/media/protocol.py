"""The line protocol between the controller and a media worker.

One JSON object per line. Commands go controller → worker (``{"cmd": ...}``), events go worker →
controller (``{"ev": ...}``). This module is pure (no pjsua2, no Twisted) so both sides share it
and it can be tested against captured and deliberately broken lines. Decoding validates the shape
strictly and raises :class:`ProtocolError`, so a bad line becomes an ``error`` event instead of an
exception deep inside pjsua2 callbacks.

To add a command: define a frozen dataclass with a ``name`` ClassVar, add it to ``Command`` and to
``_COMMAND_DECODERS``. The worker dispatches on the class, so nothing else has to change here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

DtmfMethod = Literal["rfc4733", "info"]
HangupBy = Literal["remote", "local"]


class ProtocolError(ValueError):
    """A line that is not a valid message. ``cmd`` is the command name when it was readable."""

    def __init__(self, message: str, cmd: str | None = None, call: str | None = None) -> None:
        super().__init__(message)
        self.cmd = cmd
        self.call = call


# ---------------------------------------------------------------------------------------------
# Commands (controller → worker)


@dataclass(frozen=True)
class Ring:
    """Send 180 Ringing for an incoming call."""

    name: ClassVar[str] = "ring"
    call: str


@dataclass(frozen=True)
class Answer:
    """Answer an incoming call with 200 OK; ``answered`` follows when media is up."""

    name: ClassVar[str] = "answer"
    call: str


@dataclass(frozen=True)
class Play:
    """Play WAV files (8 kHz mono s16) in order to the caller; replaces any current playback."""

    name: ClassVar[str] = "play"
    call: str
    files: tuple[str, ...]
    token: str
    loop: bool = False


@dataclass(frozen=True)
class StopPlay:
    """Stop the current playback of a call without a ``play_done``."""

    name: ClassVar[str] = "stop_play"
    call: str


@dataclass(frozen=True)
class Hangup:
    """End a call: ``code`` for an unanswered one, BYE if it was answered."""

    name: ClassVar[str] = "hangup"
    call: str
    code: int = 486

    def __post_init__(self) -> None:
        if not 300 <= self.code <= 699:
            raise ProtocolError("hangup: 'code' must be a final error status (300-699)")


@dataclass(frozen=True)
class Transfer:
    """Blind-transfer an answered call with REFER; ``transferred`` or ``transfer_failed``
    follows. ``target``: a ``sip:``/``sips:`` URI, or a bare number or name that becomes
    ``sip:<target>@<host:port the caller dialled>`` (see :mod:`callcenter.media.transfer`)."""

    name: ClassVar[str] = "transfer"
    call: str
    target: str

    def __post_init__(self) -> None:
        problem = target_problem(self.target)
        if problem is not None:
            raise ProtocolError(f"transfer: 'target' must be {problem}")


@dataclass(frozen=True)
class Dial:
    """Place an agent leg from this worker, next to the caller ``peer`` it will be bridged with.

    The INVITE goes to ``uri`` through the SIP front (the worker's outbound proxy). The agent's
    phone shows ``caller_id`` (From user part) and ``display`` (From display name); ``headers``
    (e.g. ``X-Queue``) are added to the INVITE. Events: ``leg_ringing``, ``leg_answered``, then
    ``hangup``; or ``leg_failed`` (busy, declined, unreachable, ``timeout`` seconds without an
    answer: 408, withdrawn by ``cancel_dial`` or by the end of ``peer``: 487). ``call`` is the
    controller's name for the leg (not its SIP Call-ID). An empty ``peer`` places a call of
    its own (reserved like an inbound call), e.g. a supervisor's phone rung to monitor a call."""

    name: ClassVar[str] = "dial"
    call: str
    peer: str
    uri: str
    caller_id: str
    display: str = ""
    timeout: float = 20.0
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.call == self.peer:
            raise ProtocolError("dial: 'call' and 'peer' must differ")
        if not is_sip_uri(self.uri) or target_problem(self.uri) is not None:
            raise ProtocolError("dial: 'uri' must be a sip:/sips: URI without spaces, quotes or <>")
        if not _CALLER_ID.fullmatch(self.caller_id):
            raise ProtocolError("dial: 'caller_id' must be 1-64 of letters, digits, + * . _ ~ -")
        if len(self.display) > MAX_DISPLAY_LENGTH or not all(c.isprintable() for c in self.display):
            raise ProtocolError(
                f"dial: 'display' must be printable and at most {MAX_DISPLAY_LENGTH} characters"
            )
        if not 0 < self.timeout <= MAX_DIAL_TIMEOUT:
            raise ProtocolError(f"dial: 'timeout' must be in (0, {MAX_DIAL_TIMEOUT}] seconds")
        for header, value in self.headers:
            problem = header_problem(header, value)
            if problem is not None:
                raise ProtocolError(f"dial: header {header!r}: {problem}")


@dataclass(frozen=True)
class CancelDial:
    """Withdraw an offer that is not answered yet (CANCEL: the phone stops ringing);
    ``leg_failed`` 487 follows. A leg already gone is not an error."""

    name: ClassVar[str] = "cancel_dial"
    call: str


@dataclass(frozen=True)
class Bridge:
    """Connect the audio of two answered calls both ways (players on them are stopped first).

    From then on the pair ends together: when either side hangs up, the worker hangs up the
    other (both report ``hangup``)."""

    name: ClassVar[str] = "bridge"
    a: str
    b: str

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ProtocolError("bridge: 'a' and 'b' must differ")


@dataclass(frozen=True)
class Unbridge:
    """Disconnect a bridged pair's audio; each call then lives (and ends) on its own."""

    name: ClassVar[str] = "unbridge"
    a: str
    b: str

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ProtocolError("unbridge: 'a' and 'b' must differ")


@dataclass(frozen=True)
class TapOpen:
    """Open an audio tap (see :mod:`callcenter.media.tap`): the audio of the calls in
    ``listen_to`` is sent to tap ``peer_tap`` at ``peer_host:peer_port`` (a worker's tap
    socket, possibly this worker's own), and what arrives for ``tap`` is played to the calls
    in ``talk_to``. Calls may be named before their media is up: they are connected when it
    is."""

    name: ClassVar[str] = "tap"
    tap: str
    peer_tap: str
    peer_host: str
    peer_port: int
    listen_to: tuple[str, ...] = ()
    talk_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_tap(self.tap, "tap")
        _check_tap(self.peer_tap, "tap")
        if not 0 < self.peer_port < 65536:
            raise ProtocolError("tap: 'peer_port' must be a port number")


@dataclass(frozen=True)
class TapSet:
    """Change which calls an open tap listens to and talks to (a supervisor's mode change)."""

    name: ClassVar[str] = "tap_set"
    tap: str
    listen_to: tuple[str, ...] = ()
    talk_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_tap(self.tap, "tap_set")


@dataclass(frozen=True)
class TapClose:
    """Close a tap; a ``tap_closed`` event with its counters follows. An unknown tap is no
    error (it may have closed already)."""

    name: ClassVar[str] = "tap_close"
    tap: str

    def __post_init__(self) -> None:
        _check_tap(self.tap, "tap_close")


def _check_tap(tap: str, ctx: str) -> None:
    if not 0 < len(tap) <= 64 or not tap.isascii() or not tap.isprintable():
        raise ProtocolError(f"{ctx}: 'tap' must be 1-64 printable ASCII characters")


@dataclass(frozen=True)
class Record:
    """Record a bridged pair, each party on its own: ``left_file`` gets what the ``left`` call
    says (the caller), ``right_file`` what the ``right`` call says (the agent). Both recorders
    start in the same step of the media clock, so the two mono files stay aligned and can be
    interleaved into one stereo file. ``call`` names the recording (the caller's call id) in
    ``record_started``/``recorded``. The recording stops by itself when either call ends."""

    name: ClassVar[str] = "record"
    call: str
    left: str
    right: str
    left_file: str
    right_file: str

    def __post_init__(self) -> None:
        if self.left == self.right:
            raise ProtocolError("record: 'left' and 'right' must differ")
        for path in (self.left_file, self.right_file):
            if not path.startswith("/"):
                raise ProtocolError("record: files must be absolute paths")
        if self.left_file == self.right_file:
            raise ProtocolError("record: 'left_file' and 'right_file' must differ")


@dataclass(frozen=True)
class RecordIvr:
    """Record one call on its own while the IVR serves it: ``left_file`` gets what the ``leg``
    call says, ``right_file`` what is played to it (prompts, music on hold). ``call`` names
    the recording in ``record_started``/``recorded``; it stops with ``stop_record`` (when the
    caller is bridged to an agent) or when the call ends."""

    name: ClassVar[str] = "record_ivr"
    call: str
    leg: str
    left_file: str
    right_file: str

    def __post_init__(self) -> None:
        for path in (self.left_file, self.right_file):
            if not path.startswith("/"):
                raise ProtocolError("record_ivr: files must be absolute paths")
        if self.left_file == self.right_file:
            raise ProtocolError("record_ivr: 'left_file' and 'right_file' must differ")


@dataclass(frozen=True)
class PauseRecord:
    """Mute a recording: both files keep running with silence (its length is kept)."""

    name: ClassVar[str] = "pause_record"
    call: str


@dataclass(frozen=True)
class ResumeRecord:
    """Unmute a paused recording."""

    name: ClassVar[str] = "resume_record"
    call: str


@dataclass(frozen=True)
class StopRecord:
    """Stop a recording now (``recorded`` follows); a recording already over is no error."""

    name: ClassVar[str] = "stop_record"
    call: str


@dataclass(frozen=True)
class StatsRequest:
    """Ask for a ``stats`` event."""

    name: ClassVar[str] = "stats"


@dataclass(frozen=True)
class Shutdown:
    """Hang up everything and exit 0."""

    name: ClassVar[str] = "shutdown"


Command = (
    Ring
    | Answer
    | Play
    | StopPlay
    | Hangup
    | Transfer
    | Dial
    | CancelDial
    | Bridge
    | Unbridge
    | TapOpen
    | TapSet
    | TapClose
    | Record
    | RecordIvr
    | PauseRecord
    | ResumeRecord
    | StopRecord
    | StatsRequest
    | Shutdown
)

# ---------------------------------------------------------------------------------------------
# Events (worker → controller)


@dataclass(frozen=True)
class Ready:
    name: ClassVar[str] = "ready"
    sip_port: int
    pid: int
    tap_port: int = 0  # the worker's audio tap socket on loopback (0: none)


@dataclass(frozen=True)
class Incoming:
    name: ClassVar[str] = "incoming"
    call: str
    from_uri: str
    to_uri: str


@dataclass(frozen=True)
class Answered:
    name: ClassVar[str] = "answered"
    call: str


@dataclass(frozen=True)
class Dtmf:
    name: ClassVar[str] = "dtmf"
    call: str
    digit: str
    method: DtmfMethod


@dataclass(frozen=True)
class PlayDone:
    name: ClassVar[str] = "play_done"
    call: str
    token: str


@dataclass(frozen=True)
class HungUp:
    name: ClassVar[str] = "hangup"
    call: str
    code: int
    reason: str
    by: HangupBy


@dataclass(frozen=True)
class Transferred:
    """The caller accepted the REFER and reported progress: it has left us for ``target`` (the
    Refer-To URI). ``status``: the final NOTIFY sipfrag code, else the REFER's 2xx (when the
    caller hung up before a final NOTIFY). The ``hangup`` event of the call follows."""

    name: ClassVar[str] = "transferred"
    call: str
    target: str
    status: int


@dataclass(frozen=True)
class TransferFailed:
    """The REFER was rejected (e.g. 405/501 from a caller without REFER support) or the
    transferee reported a failure (e.g. sipfrag 486). The call stays up with us."""

    name: ClassVar[str] = "transfer_failed"
    call: str
    target: str
    code: int
    reason: str


@dataclass(frozen=True)
class LegRinging:
    """The agent's phone rings (180/183 to our ``dial``)."""

    name: ClassVar[str] = "leg_ringing"
    call: str


@dataclass(frozen=True)
class LegAnswered:
    """The agent answered the ``dial`` (dialog confirmed): ready to ``bridge``."""

    name: ClassVar[str] = "leg_answered"
    call: str


@dataclass(frozen=True)
class LegFailed:
    """The ``dial`` ended without an answer: ``code`` 486 busy, 603 declined, 404/480
    unreachable, 408 ring timeout, 487 withdrawn (``cancel_dial`` or the caller left), 500 the
    worker could not place it. No ``hangup`` follows for this leg."""

    name: ClassVar[str] = "leg_failed"
    call: str
    code: int
    reason: str


@dataclass(frozen=True)
class LegHold:
    """The agent's phone put the bridged call on hold (re-INVITE ``sendonly``/``inactive``),
    ``held`` true, or took it off hold, ``held`` false."""

    name: ClassVar[str] = "leg_hold"
    call: str
    held: bool


@dataclass(frozen=True)
class RecordStarted:
    """Both recorders of ``record`` run."""

    name: ClassVar[str] = "record_started"
    call: str


@dataclass(frozen=True)
class Recorded:
    """A recording is over and its two mono files are closed (WAV headers written).
    ``seconds``: how long the recorders ran, to tell a file cut short (disk full)."""

    name: ClassVar[str] = "recorded"
    call: str
    left_file: str
    right_file: str
    seconds: float


@dataclass(frozen=True)
class Error:
    name: ClassVar[str] = "error"
    call: str | None
    cmd: str | None
    message: str


@dataclass(frozen=True)
class TapClosed:
    """A tap is closed: frames ``sent`` to the peer and ``received`` from it, ``underruns``
    (playout ran dry) and ``dropped`` (frames thrown away to keep the delay short)."""

    name: ClassVar[str] = "tap_closed"
    tap: str
    sent: int
    received: int
    underruns: int
    dropped: int


@dataclass(frozen=True)
class Stats:
    """Worker load. ``extra`` carries free-form figures (players, max_calls, ...)."""

    name: ClassVar[str] = "stats"
    calls: int
    extra: Mapping[str, Any] = field(default_factory=dict)


Event = (
    Ready
    | Incoming
    | Answered
    | Dtmf
    | PlayDone
    | HungUp
    | Transferred
    | TransferFailed
    | LegRinging
    | LegAnswered
    | LegFailed
    | LegHold
    | RecordStarted
    | Recorded
    | Error
    | TapClosed
    | Stats
)

DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")

MAX_TARGET_LENGTH = 256
_SIP_URI = re.compile(r"sips?:[^\s<>\"]+", re.IGNORECASE)
_BARE_TARGET = re.compile(r"[A-Za-z0-9+*._~-]+")
_CALLER_ID = re.compile(r"[A-Za-z0-9+*._~-]{1,64}")
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
MAX_DISPLAY_LENGTH = 128
MAX_DIAL_TIMEOUT = 600.0
MAX_HEADER_VALUE = 512
# pjsua builds these itself: a copy from the controller would break the dialog or the routing.
RESERVED_HEADERS = frozenset(
    {
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "route",
        "record-route",
        "max-forwards",
        "content-length",
        "content-type",
    }
)


def is_sip_uri(target: str) -> bool:
    return target[:4].lower() == "sip:" or target[:5].lower() == "sips:"


def target_problem(target: str) -> str | None:
    """Why ``target`` cannot be a transfer target, or None. It ends up in a Refer-To header,
    so anything that could break out of it (spaces, quotes, angle brackets) is refused."""
    if len(target) > MAX_TARGET_LENGTH:
        return f"longer than {MAX_TARGET_LENGTH} characters"
    if is_sip_uri(target):
        return None if _SIP_URI.fullmatch(target) else "a SIP URI without spaces, quotes or <>"
    if _BARE_TARGET.fullmatch(target):
        return None
    return "a sip:/sips: URI or a bare number or name (letters, digits, + * . _ ~ -)"


def header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be added to a dial INVITE, or None. A CR or LF would let a
    value inject headers; the dialog-forming headers are pjsua's own."""
    if not _HEADER_NAME.fullmatch(name):
        return "the name must be a SIP token (letters, digits, -)"
    if name.lower() in RESERVED_HEADERS:
        return "pjsua sets this header itself"
    if len(value) > MAX_HEADER_VALUE or not all(c.isprintable() for c in value):
        return f"the value must be printable and at most {MAX_HEADER_VALUE} characters"
    return None


# ---------------------------------------------------------------------------------------------
# Encoding


def to_dict(message: Command | Event) -> dict[str, Any]:
    """The JSON object of a message (the wire form, before serialisation)."""
    if isinstance(message, Command):
        out: dict[str, Any] = {"cmd": message.name}
        if isinstance(message, Play):
            out.update(
                call=message.call, files=list(message.files), token=message.token, loop=message.loop
            )
        elif isinstance(message, Hangup):
            out.update(call=message.call, code=message.code)
        elif isinstance(message, Transfer):
            out.update(call=message.call, target=message.target)
        elif isinstance(message, Dial):
            out.update(
                call=message.call,
                peer=message.peer,
                uri=message.uri,
                caller_id=message.caller_id,
                display=message.display,
                timeout=message.timeout,
                headers=dict(message.headers),
            )
        elif isinstance(message, Bridge | Unbridge):
            out.update(a=message.a, b=message.b)
        elif isinstance(message, TapOpen):
            out.update(
                tap=message.tap,
                peer_tap=message.peer_tap,
                peer_host=message.peer_host,
                peer_port=message.peer_port,
                listen_to=list(message.listen_to),
                talk_to=list(message.talk_to),
            )
        elif isinstance(message, TapSet):
            out.update(
                tap=message.tap, listen_to=list(message.listen_to), talk_to=list(message.talk_to)
            )
        elif isinstance(message, TapClose):
            out["tap"] = message.tap
        elif isinstance(message, RecordIvr):
            out.update(
                call=message.call,
                leg=message.leg,
                left_file=message.left_file,
                right_file=message.right_file,
            )
        elif isinstance(message, Record):
            out.update(
                call=message.call,
                left=message.left,
                right=message.right,
                left_file=message.left_file,
                right_file=message.right_file,
            )
        elif isinstance(
            message,
            Ring | Answer | StopPlay | CancelDial | PauseRecord | ResumeRecord | StopRecord,
        ):
            out["call"] = message.call
        return out
    ev: dict[str, Any] = {"ev": message.name}
    match message:
        case Ready(sip_port=port, pid=pid, tap_port=tap_port):
            ev.update(sip_port=port, pid=pid, tap_port=tap_port)
        case Incoming(call=call, from_uri=from_uri, to_uri=to_uri):
            ev.update({"call": call, "from": from_uri, "to": to_uri})
        case Answered(call=call):
            ev["call"] = call
        case Dtmf(call=call, digit=digit, method=method):
            ev.update(call=call, digit=digit, method=method)
        case PlayDone(call=call, token=token):
            ev.update(call=call, token=token)
        case HungUp(call=call, code=code, reason=reason, by=by):
            ev.update(call=call, code=code, reason=reason, by=by)
        case Transferred(call=call, target=target, status=status):
            ev.update(call=call, target=target, status=status)
        case TransferFailed(call=call, target=target, code=code, reason=reason):
            ev.update(call=call, target=target, code=code, reason=reason)
        case LegRinging(call=call) | LegAnswered(call=call) | RecordStarted(call=call):
            ev["call"] = call
        case LegFailed(call=call, code=code, reason=reason):
            ev.update(call=call, code=code, reason=reason)
        case LegHold(call=call, held=held):
            ev.update(call=call, held=held)
        case Recorded(call=call, left_file=left_file, right_file=right_file, seconds=seconds):
            ev.update(call=call, left_file=left_file, right_file=right_file, seconds=seconds)
        case Error(call=call, cmd=cmd, message=text):
            ev.update(call=call, cmd=cmd, message=text)
        case TapClosed():
            ev.update(
                tap=message.tap,
                sent=message.sent,
                received=message.received,
                underruns=message.underruns,
                dropped=message.dropped,
            )
        case Stats(calls=calls, extra=extra):
            ev.update(extra)
            ev["calls"] = calls
    return ev


def encode(message: Command | Event) -> bytes:
    """One line of compact JSON, newline-terminated."""
    return json.dumps(to_dict(message), separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------------------------------
# Decoding


def _load(line: bytes | str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    return obj


def _str(obj: Mapping[str, Any], key: str, ctx: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{ctx}: {key!r} must be a non-empty string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, ctx: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"{ctx}: {key!r} must be a string or null")
    return value


def _int(obj: Mapping[str, Any], key: str, ctx: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"{ctx}: {key!r} must be an integer")
    return value


def _bool(obj: Mapping[str, Any], key: str, ctx: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{ctx}: {key!r} must be a boolean")
    return value


def _decode_play(obj: Mapping[str, Any]) -> Play:
    files = obj.get("files")
    if (
        not isinstance(files, list)
        or not files
        or not all(isinstance(f, str) and f.startswith("/") for f in files)
    ):
        raise ProtocolError("play: 'files' must be a non-empty list of absolute paths")
    return Play(
        call=_str(obj, "call", "play"),
        files=tuple(files),
        token=_str(obj, "token", "play"),
        loop=_bool(obj, "loop", "play", False),
    )


def _decode_hangup(obj: Mapping[str, Any]) -> Hangup:
    return Hangup(call=_str(obj, "call", "hangup"), code=_int(obj, "code", "hangup", 486))


def _decode_transfer(obj: Mapping[str, Any]) -> Transfer:
    return Transfer(call=_str(obj, "call", "transfer"), target=_str(obj, "target", "transfer"))


def _peer(obj: Mapping[str, Any]) -> str:
    peer = obj.get("peer", "")
    if not isinstance(peer, str):
        raise ProtocolError("dial: 'peer' must be a string")
    return peer


def _decode_dial(obj: Mapping[str, Any]) -> Dial:
    timeout = obj.get("timeout", 20)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise ProtocolError("dial: 'timeout' must be a number of seconds")
    headers = obj.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ProtocolError("dial: 'headers' must be an object of strings")
    display = obj.get("display", "")
    if not isinstance(display, str):
        raise ProtocolError("dial: 'display' must be a string")
    return Dial(
        call=_str(obj, "call", "dial"),
        peer=_peer(obj),
        uri=_str(obj, "uri", "dial"),
        caller_id=_str(obj, "caller_id", "dial"),
        display=display,
        timeout=float(timeout),
        headers=tuple(headers.items()),
    )


def _calls(obj: Mapping[str, Any], key: str, ctx: str) -> tuple[str, ...]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise ProtocolError(f"{ctx}: {key!r} must be a list of call ids")
    return tuple(value)


def _decode_tap(obj: Mapping[str, Any]) -> TapOpen:
    return TapOpen(
        tap=_str(obj, "tap", "tap"),
        peer_tap=_str(obj, "peer_tap", "tap"),
        peer_host=_str(obj, "peer_host", "tap"),
        peer_port=_int(obj, "peer_port", "tap"),
        listen_to=_calls(obj, "listen_to", "tap"),
        talk_to=_calls(obj, "talk_to", "tap"),
    )


_COMMAND_DECODERS: dict[str, Callable[[Mapping[str, Any]], Command]] = {
    "ring": lambda o: Ring(call=_str(o, "call", "ring")),
    "answer": lambda o: Answer(call=_str(o, "call", "answer")),
    "play": _decode_play,
    "stop_play": lambda o: StopPlay(call=_str(o, "call", "stop_play")),
    "hangup": _decode_hangup,
    "transfer": _decode_transfer,
    "dial": _decode_dial,
    "cancel_dial": lambda o: CancelDial(call=_str(o, "call", "cancel_dial")),
    "bridge": lambda o: Bridge(a=_str(o, "a", "bridge"), b=_str(o, "b", "bridge")),
    "unbridge": lambda o: Unbridge(a=_str(o, "a", "unbridge"), b=_str(o, "b", "unbridge")),
    "tap": _decode_tap,
    "tap_set": lambda o: TapSet(
        tap=_str(o, "tap", "tap_set"),
        listen_to=_calls(o, "listen_to", "tap_set"),
        talk_to=_calls(o, "talk_to", "tap_set"),
    ),
    "tap_close": lambda o: TapClose(tap=_str(o, "tap", "tap_close")),
    "record": lambda o: Record(
        call=_str(o, "call", "record"),
        left=_str(o, "left", "record"),
        right=_str(o, "right", "record"),
        left_file=_str(o, "left_file", "record"),
        right_file=_str(o, "right_file", "record"),
    ),
    "record_ivr": lambda o: RecordIvr(
        call=_str(o, "call", "record_ivr"),
        leg=_str(o, "leg", "record_ivr"),
        left_file=_str(o, "left_file", "record_ivr"),
        right_file=_str(o, "right_file", "record_ivr"),
    ),
    "pause_record": lambda o: PauseRecord(call=_str(o, "call", "pause_record")),
    "resume_record": lambda o: ResumeRecord(call=_str(o, "call", "resume_record")),
    "stop_record": lambda o: StopRecord(call=_str(o, "call", "stop_record")),
    "stats": lambda o: StatsRequest(),
    "shutdown": lambda o: Shutdown(),
}


def command_from_dict(obj: Mapping[str, Any]) -> Command:
    """Validate a command object (already parsed JSON)."""
    name = obj.get("cmd")
    value = obj.get("call")
    call = value if isinstance(value, str) and value else None
    if not isinstance(name, str):
        raise ProtocolError("missing 'cmd'", call=call)
    decoder = _COMMAND_DECODERS.get(name)
    if decoder is None:
        raise ProtocolError(f"unknown command {name!r}", cmd=name, call=call)
    try:
        return decoder(obj)
    except ProtocolError as exc:
        raise ProtocolError(str(exc), cmd=name, call=call) from None


def decode_command(line: bytes | str) -> Command:
    """Parse one command line; raises :class:`ProtocolError`."""
    return command_from_dict(_load(line))


def _decode_dtmf(o: Mapping[str, Any]) -> Dtmf:
    digit = _str(o, "digit", "dtmf")
    method = o.get("method")
    if digit not in DTMF_DIGITS or len(digit) != 1:
        raise ProtocolError(f"dtmf: bad digit {digit!r}")
    if method == "rfc4733":
        return Dtmf(call=_str(o, "call", "dtmf"), digit=digit, method="rfc4733")
    if method == "info":
        return Dtmf(call=_str(o, "call", "dtmf"), digit=digit, method="info")
    raise ProtocolError("dtmf: 'method' must be 'rfc4733' or 'info'")


def _decode_hungup(o: Mapping[str, Any]) -> HungUp:
    by = o.get("by")
    if by == "remote":
        by_checked: HangupBy = "remote"
    elif by == "local":
        by_checked = "local"
    else:
        raise ProtocolError("hangup: 'by' must be 'remote' or 'local'")
    reason = o.get("reason", "")
    if not isinstance(reason, str):
        raise ProtocolError("hangup: 'reason' must be a string")
    return HungUp(
        call=_str(o, "call", "hangup"), code=_int(o, "code", "hangup"), reason=reason, by=by_checked
    )


def _decode_stats(o: Mapping[str, Any]) -> Stats:
    extra = {k: v for k, v in o.items() if k not in ("ev", "calls")}
    return Stats(calls=_int(o, "calls", "stats"), extra=extra)


def _decode_transferred(o: Mapping[str, Any]) -> Transferred:
    status = _int(o, "status", "transferred")
    if not 100 <= status <= 299:
        raise ProtocolError("transferred: 'status' must be 100-299")
    return Transferred(
        call=_str(o, "call", "transferred"), target=_str(o, "target", "transferred"), status=status
    )


def _decode_transfer_failed(o: Mapping[str, Any]) -> TransferFailed:
    reason = o.get("reason", "")
    if not isinstance(reason, str):
        raise ProtocolError("transfer_failed: 'reason' must be a string")
    return TransferFailed(
        call=_str(o, "call", "transfer_failed"),
        target=_str(o, "target", "transfer_failed"),
        code=_int(o, "code", "transfer_failed"),
        reason=reason,
    )


def _decode_leg_failed(o: Mapping[str, Any]) -> LegFailed:
    reason = o.get("reason", "")
    if not isinstance(reason, str):
        raise ProtocolError("leg_failed: 'reason' must be a string")
    code = _int(o, "code", "leg_failed")
    if not 300 <= code <= 699:
        raise ProtocolError("leg_failed: 'code' must be a final error status (300-699)")
    return LegFailed(call=_str(o, "call", "leg_failed"), code=code, reason=reason)


def _decode_leg_hold(o: Mapping[str, Any]) -> LegHold:
    held = o.get("held")
    if not isinstance(held, bool):
        raise ProtocolError("leg_hold: 'held' must be true or false")
    return LegHold(call=_str(o, "call", "leg_hold"), held=held)


def _decode_recorded(o: Mapping[str, Any]) -> Recorded:
    seconds = o.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise ProtocolError("recorded: 'seconds' must be a non-negative number")
    return Recorded(
        call=_str(o, "call", "recorded"),
        left_file=_str(o, "left_file", "recorded"),
        right_file=_str(o, "right_file", "recorded"),
        seconds=float(seconds),
    )


_EVENT_DECODERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "ready": lambda o: Ready(
        sip_port=_int(o, "sip_port", "ready"),
        pid=_int(o, "pid", "ready"),
        tap_port=_int(o, "tap_port", "ready", 0),
    ),
    "incoming": lambda o: Incoming(
        call=_str(o, "call", "incoming"),
        from_uri=_str(o, "from", "incoming"),
        to_uri=_str(o, "to", "incoming"),
    ),
    "answered": lambda o: Answered(call=_str(o, "call", "answered")),
    "dtmf": _decode_dtmf,
    "play_done": lambda o: PlayDone(
        call=_str(o, "call", "play_done"), token=_str(o, "token", "play_done")
    ),
    "hangup": _decode_hungup,
    "transferred": _decode_transferred,
    "transfer_failed": _decode_transfer_failed,
    "leg_ringing": lambda o: LegRinging(call=_str(o, "call", "leg_ringing")),
    "leg_answered": lambda o: LegAnswered(call=_str(o, "call", "leg_answered")),
    "leg_failed": _decode_leg_failed,
    "leg_hold": _decode_leg_hold,
    "record_started": lambda o: RecordStarted(call=_str(o, "call", "record_started")),
    "recorded": _decode_recorded,
    "error": lambda o: Error(
        call=_opt_str(o, "call", "error"),
        cmd=_opt_str(o, "cmd", "error"),
        message=_str(o, "message", "error"),
    ),
    "tap_closed": lambda o: TapClosed(
        tap=_str(o, "tap", "tap_closed"),
        sent=_int(o, "sent", "tap_closed"),
        received=_int(o, "received", "tap_closed"),
        underruns=_int(o, "underruns", "tap_closed"),
        dropped=_int(o, "dropped", "tap_closed"),
    ),
    "stats": _decode_stats,
}


def event_from_dict(obj: Mapping[str, Any]) -> Event:
    """Validate an event object (already parsed JSON)."""
    name = obj.get("ev")
    if not isinstance(name, str):
        raise ProtocolError("missing 'ev'")
    decoder = _EVENT_DECODERS.get(name)
    if decoder is None:
        raise ProtocolError(f"unknown event {name!r}")
    return decoder(obj)


def decode_event(line: bytes | str) -> Event:
    """Parse one event line; raises :class:`ProtocolError`."""
    return event_from_dict(_load(line))
