"""A pjsua2 test softphone that runs as its own process.

pjsua2 allows one Endpoint per process and must own its thread, so tests never load it in the
pytest process: they start ``python -m tests.support.phone`` and read the one JSON line it prints.
The phone calls a SIP URI, optionally sends DTMF (RFC 4733 or SIP INFO) at given times after the
answer, optionally plays a WAV to the far end, records what it hears to a WAV, and hangs up after
``duration`` seconds of talk or when the far end hangs up.

Use :func:`run_phone` (blocking) or :func:`start_phone` (several phones at once). Inside a Twisted
test, wrap :func:`run_phone` in ``threads.deferToThread`` so the reactor keeps running.

Agent mode (``--agent``, :func:`start_agent_phone`): the phone is an agent's softphone. It
optionally REGISTERs to the front with digest auth, prints a ``{"ready": ...}`` line (its SIP
port, the REGISTER's status), then waits for one call: rings, and answers after
``answer_after`` seconds, or rejects it with ``reject`` (486, 603...), or never answers
(``answer_after=None``). Once answered it plays a WAV to the far end, records what it hears and
hangs up after ``duration`` seconds unless the far end hangs up first. Its summary
(:class:`AgentResult`) tells what the phone showed: the caller's number and display name from
the From header, and the INVITE's ``X-`` headers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.pj_audio import connect_audio

DtmfStep = tuple[float, str, str]  # (seconds after answer, digit(s), "rfc4733" | "info")

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PhoneResult:
    """The phone's JSON summary, typed."""

    status_code: int  # final response to the INVITE (200 when answered), 0 if none
    answered: bool
    hangup_by: str | None  # "local" (the phone hung up), "remote", or None if never connected
    disconnect_code: int
    disconnect_reason: str
    connected_seconds: float  # from answer to disconnect
    record_to: Path | None
    dtmf_sent: list[str] = field(default_factory=list)
    dtmf_received: list[str] = field(default_factory=list)
    error: str | None = None
    stderr: str = ""
    call_id: str | None = None  # the SIP Call-ID: the service's call record id

    @classmethod
    def from_json(cls, data: dict[str, Any], stderr: str = "") -> PhoneResult:
        record = data.get("record_to")
        return cls(
            status_code=int(data.get("status_code", 0)),
            answered=bool(data.get("answered", False)),
            hangup_by=data.get("hangup_by"),
            disconnect_code=int(data.get("disconnect_code", 0)),
            disconnect_reason=str(data.get("disconnect_reason", "")),
            connected_seconds=float(data.get("connected_seconds", 0.0)),
            record_to=Path(record) if record else None,
            dtmf_sent=list(data.get("dtmf_sent", [])),
            dtmf_received=list(data.get("dtmf_received", [])),
            error=data.get("error"),
            call_id=data.get("call_id"),
            stderr=stderr,
        )


@dataclass(frozen=True)
class AgentResult:
    """The agent phone's JSON summary, typed."""

    registered: bool
    register_code: int  # final status of the REGISTER (0: none sent)
    incoming: bool  # a call arrived
    from_user: str  # the caller's number, as the phone shows it (From user part)
    from_display: str  # From display name (e.g. "Billing: +4420...")
    headers: dict[str, str]  # the INVITE's X- headers
    answered: bool
    status_code: int  # our final answer: 200, the reject code, or the far end's CANCEL's 487
    hangup_by: str | None  # "local", "remote", or None if never connected
    disconnect_code: int
    disconnect_reason: str
    ringing_seconds: float  # from the INVITE to our answer or the end of ringing
    connected_seconds: float
    record_to: Path | None
    error: str | None = None
    stderr: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any], stderr: str = "") -> AgentResult:
        record = data.get("record_to")
        return cls(
            registered=bool(data.get("registered", False)),
            register_code=int(data.get("register_code", 0)),
            incoming=bool(data.get("incoming", False)),
            from_user=str(data.get("from_user", "")),
            from_display=str(data.get("from_display", "")),
            headers=dict(data.get("headers", {})),
            answered=bool(data.get("answered", False)),
            status_code=int(data.get("status_code", 0)),
            hangup_by=data.get("hangup_by"),
            disconnect_code=int(data.get("disconnect_code", 0)),
            disconnect_reason=str(data.get("disconnect_reason", "")),
            ringing_seconds=float(data.get("ringing_seconds", 0.0)),
            connected_seconds=float(data.get("connected_seconds", 0.0)),
            record_to=Path(record) if record else None,
            error=data.get("error"),
            stderr=stderr,
        )


class RunningPhone:
    """A phone process in flight; always ``wait`` or ``kill`` it (fixtures: ``kill`` in finally)."""

    def __init__(self, args: list[str], timeout: float) -> None:
        self._timeout = timeout
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._first_line: bytes | None = None

    def wait_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        """Agent mode: block until the phone printed its ``ready`` line (registered if asked)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0].strip():
            self.kill()
            raise RuntimeError("agent phone never got ready")
        self._first_line = lines[0]
        ready: dict[str, Any] = json.loads(lines[0])
        return ready

    def _summary(self, timeout: float | None) -> tuple[dict[str, Any], str]:
        try:
            out, err = self.process.communicate(timeout=timeout or self._timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        text = err.decode(errors="replace")
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(
                f"phone printed no summary (exit {self.process.returncode}):\n{text}"
            )
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary, text

    def wait(self, timeout: float | None = None) -> PhoneResult:
        return PhoneResult.from_json(*self._summary(timeout))

    def wait_agent(self, timeout: float | None = None) -> AgentResult:
        """Agent mode: block until the phone's call (or its wait) is over."""
        return AgentResult.from_json(*self._summary(timeout))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def phone_args(
    target_uri: str,
    *,
    dtmf: Sequence[DtmfStep] = (),
    duration: float = 10.0,
    record_to: Path | str | None = None,
    play: Path | str | None = None,
    answer_timeout: float = 15.0,
    python: str = sys.executable,
    loop: bool = False,
    auth: tuple[str, str] | None = None,
) -> list[str]:
    args = [python, "-m", "tests.support.phone", target_uri, "--duration", str(duration)]
    args += ["--answer-timeout", str(answer_timeout)]
    for at, digits, method in dtmf:
        args += ["--dtmf", f"{at}:{digits}:{method}"]
    if record_to is not None:
        args += ["--record", str(record_to)]
    if play is not None:
        args += ["--play", str(play)]
    if loop:
        args.append("--loop")
    if auth is not None:  # answer a 401/407 to the INVITE with these digest credentials
        args += ["--username", auth[0], "--password", auth[1]]
    return args


def start_agent_phone(
    *,
    port: int = 0,
    answer_after: float | None = 1.0,
    reject: int | None = None,
    duration: float = 30.0,
    wait: float = 30.0,
    play: Path | str | None = None,
    record_to: Path | str | None = None,
    register: str | None = None,
    username: str = "agent1",
    password: str = "",
    dtmf: Sequence[DtmfStep] = (),
    hold: tuple[float, float] | None = None,
) -> RunningPhone:
    """Start an agent softphone on ``127.0.0.1:port``; call ``wait_ready`` before dialling it.

    ``answer_after``: seconds of ringing before it answers (None: never); ``reject``: answer
    with this error code after ``answer_after`` seconds instead. ``wait``: how long it waits for
    a call. ``register``: the front's URI (``sip:127.0.0.1:5060``) to REGISTER to as
    ``username`` with ``password`` (digest). The played WAV loops while the call lasts.
    ``hold``: (from, until) seconds after answering during which the phone holds the call
    (re-INVITE ``sendonly``, then a re-INVITE that resumes it).
    """
    args = [sys.executable, "-m", "tests.support.phone", "--agent", "--port", str(port)]
    args += ["--duration", str(duration), "--wait", str(wait)]
    if answer_after is not None:
        args += ["--answer-after", str(answer_after)]
    if reject is not None:
        args += ["--reject", str(reject)]
    if play is not None:
        args += ["--play", str(play), "--loop"]
    if record_to is not None:
        args += ["--record", str(record_to)]
    if register is not None:
        args += ["--register", register, "--username", username, "--password", password]
    for at, digits, method in dtmf:
        args += ["--dtmf", f"{at}:{digits}:{method}"]
    if hold is not None:
        args += ["--hold", str(hold[0]), str(hold[1])]
    return RunningPhone(args, timeout=wait + duration + 30.0)


def start_phone(
    target_uri: str,
    *,
    dtmf: Sequence[DtmfStep] = (),
    duration: float = 10.0,
    record_to: Path | str | None = None,
    play: Path | str | None = None,
    answer_timeout: float = 15.0,
    loop: bool = False,
    auth: tuple[str, str] | None = None,
) -> RunningPhone:
    """Start a phone calling ``target_uri``; returns at once. ``loop``: repeat ``play``.
    ``auth``: (username, password) to answer a digest challenge to the INVITE with."""
    args = phone_args(
        target_uri,
        dtmf=dtmf,
        duration=duration,
        record_to=record_to,
        play=play,
        answer_timeout=answer_timeout,
        loop=loop,
        auth=auth,
    )
    return RunningPhone(args, timeout=answer_timeout + duration + 30.0)


def run_phone(
    target_uri: str,
    *,
    dtmf: Sequence[DtmfStep] = (),
    duration: float = 10.0,
    record_to: Path | str | None = None,
    play: Path | str | None = None,
    answer_timeout: float = 15.0,
) -> PhoneResult:
    """Call ``target_uri`` and block until the call is over."""
    return start_phone(
        target_uri,
        dtmf=dtmf,
        duration=duration,
        record_to=record_to,
        play=play,
        answer_timeout=answer_timeout,
    ).wait()


# -------------------------------------------------------------------------------------------
# The phone process itself (pjsua2 imported only here).


def _parse_dtmf(text: str) -> DtmfStep:
    at, digits, method = text.split(":", 2)
    if method not in ("rfc4733", "info"):
        raise argparse.ArgumentTypeError(f"bad DTMF method {method!r}")
    return float(at), digits, method


def _phone_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pjsua2 test softphone")
    parser.add_argument("target", nargs="?")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--answer-timeout", type=float, default=15.0)
    parser.add_argument("--dtmf", type=_parse_dtmf, action="append", default=[])
    parser.add_argument("--record")
    parser.add_argument("--play")
    parser.add_argument("--loop", action="store_true", help="repeat --play")
    parser.add_argument("--pj-log-level", type=int, default=1)
    parser.add_argument("--agent", action="store_true", help="wait for a call (agent phone)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--wait", type=float, default=30.0)
    parser.add_argument("--answer-after", type=float, default=None)
    parser.add_argument("--reject", type=int, default=None)
    parser.add_argument("--register")
    parser.add_argument("--username", default="agent1")
    parser.add_argument("--password", default="")
    parser.add_argument(
        "--hold", type=float, nargs=2, metavar=("AT", "UNTIL"), help="agent: hold from AT to UNTIL"
    )
    args = parser.parse_args(argv)
    if args.agent:
        from tests.support.agent_phone import agent_main

        return agent_main(args)
    if not args.target:
        parser.error("a target URI is needed (or --agent)")

    summary_fd = os.dup(1)
    os.dup2(2, 1)  # pjsua writes to stdout; only the JSON summary may go there

    import pjsua2 as pj

    summary: dict[str, Any] = {
        "status_code": 0,
        "answered": False,
        "hangup_by": None,
        "disconnect_code": 0,
        "disconnect_reason": "",
        "connected_seconds": 0.0,
        "record_to": args.record,
        "dtmf_sent": [],
        "dtmf_received": [],
        "error": None,
        "call_id": None,
    }
    state: dict[str, Any] = {"answered_at": None, "ended": False, "local_hangup": False}
    keep: dict[str, Any] = {}  # recorder/player references: they must outlive the media

    class Phone(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:  # noqa: N802
            info = self.getInfo()
            summary["call_id"] = info.callIdString
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and state["answered_at"] is None:
                state["answered_at"] = time.monotonic()
                summary["answered"] = True
                summary["status_code"] = 200
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                state["ended"] = True
                summary["disconnect_code"] = info.lastStatusCode
                summary["disconnect_reason"] = info.lastReason
                if not summary["answered"]:
                    summary["status_code"] = info.lastStatusCode
                else:
                    summary["hangup_by"] = "local" if state["local_hangup"] else "remote"
                    summary["connected_seconds"] = round(time.monotonic() - state["answered_at"], 3)

        def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
            connect_audio(pj, self, args.record, args.play, args.loop, keep)

        def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
            summary["dtmf_received"].append(prm.digit)

        def onCallRedirected(self, prm: Any) -> int:  # noqa: N802
            return int(pj.PJSIP_REDIRECT_ACCEPT)  # follow a 3xx, as softphones do

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "callcenter-test-phone"
    cfg.logConfig.level = args.pj_log_level
    cfg.logConfig.consoleLevel = args.pj_log_level
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    local = ep.transportGetInfo(tid).localName

    acc = pj.Account()
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:phone@{local}"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = 0
    if args.password:  # caller mode with credentials: answers the service's 407 itself
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", args.username, 0, args.password)
        )
    acc.create(acfg, True)

    call = Phone(acc)
    pending = sorted(args.dtmf)
    started = time.monotonic()
    try:
        call.makeCall(args.target, pj.CallOpParam(True))
        while not state["ended"]:
            ep.libHandleEvents(10)
            now = time.monotonic()
            answered_at = state["answered_at"]
            if answered_at is None:
                if now - started > args.answer_timeout and not state["local_hangup"]:
                    state["local_hangup"] = True
                    call.hangup(pj.CallOpParam())
                continue
            while pending and now - answered_at >= pending[0][0]:
                _, digits, method = pending.pop(0)
                prm = pj.CallSendDtmfParam()
                prm.digits = digits
                prm.method = (
                    pj.PJSUA_DTMF_METHOD_SIP_INFO
                    if method == "info"
                    else pj.PJSUA_DTMF_METHOD_RFC2833
                )
                call.sendDtmf(prm)
                summary["dtmf_sent"].append(f"{digits}:{method}")
            if now - answered_at >= args.duration and not state["local_hangup"]:
                state["local_hangup"] = True
                call.hangup(pj.CallOpParam())
        for _ in range(5):  # let the BYE/200 exchange finish
            ep.libHandleEvents(20)
    except Exception as exc:
        info = getattr(exc, "info", None)
        summary["error"] = str(info()) if callable(info) else str(exc)
    keep.clear()  # destroys the recorder: the WAV header is finalised here
    del call
    acc.shutdown()
    ep.libDestroy()
    os.write(summary_fd, (json.dumps(summary) + "\n").encode())
    return 0 if summary["error"] is None else 1


if __name__ == "__main__":
    sys.exit(_phone_main())
