"""The agent-softphone mode of the test phone process (``python -m tests.support.phone --agent``).

Separate from the caller mode because it is event-driven (it waits for an INVITE), and loaded
only inside the phone process: it imports pjsua2. See :mod:`tests.support.phone` for the API.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from typing import Any

from tests.support.pj_audio import connect_audio

_FROM = re.compile(r"^(?:From|f)\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_X_HEADER = re.compile(r"^(X-[A-Za-z0-9-]+)\s*:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def parse_invite(invite: str) -> dict[str, Any]:
    """What a softphone shows of an INVITE: the From number and display name, X- headers."""
    head = invite.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    found = _FROM.search(head)
    value = found.group(1).strip() if found else ""
    display = ""
    quoted = re.match(r'"((?:[^"\\]|\\.)*)"', value)
    if quoted:
        display = re.sub(r"\\(.)", r"\1", quoted.group(1))
    elif "<" in value:
        display = value.split("<", 1)[0].strip()
    user = re.search(r"sips?:([^@;>]+)@", value)
    return {
        "from_user": user.group(1) if user else "",
        "from_display": display,
        "headers": {name: text for name, text in _X_HEADER.findall(head)},
    }


def agent_main(args: argparse.Namespace) -> int:
    summary_fd = os.dup(1)
    call: Any = None
    os.dup2(2, 1)  # pjsua writes to stdout; only our JSON lines may go there

    import pjsua2 as pj

    summary: dict[str, Any] = {
        "registered": False,
        "register_code": 0,
        "incoming": False,
        "from_user": "",
        "from_display": "",
        "headers": {},
        "answered": False,
        "status_code": 0,
        "hangup_by": None,
        "disconnect_code": 0,
        "disconnect_reason": "",
        "ringing_seconds": 0.0,
        "connected_seconds": 0.0,
        "record_to": args.record,
        "error": None,
    }
    state: dict[str, Any] = {
        "call": None,
        "rang_at": None,
        "answered_at": None,
        "ended": False,
        "local_hangup": False,
        "responded": False,
        "hold": "no",  # no → held → resumed (--hold)
    }
    keep: dict[str, Any] = {}  # recorder/player/extra calls: they must outlive the media

    def emit(obj: dict[str, Any]) -> None:
        os.write(summary_fd, (json.dumps(obj) + "\n").encode())

    class AgentCall(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:  # noqa: N802
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and state["answered_at"] is None:
                state["answered_at"] = time.monotonic()
                summary["ringing_seconds"] = round(state["answered_at"] - state["rang_at"], 3)
                summary["answered"] = True
                summary["status_code"] = 200
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                state["ended"] = True
                summary["disconnect_code"] = info.lastStatusCode
                summary["disconnect_reason"] = info.lastReason
                if state["answered_at"] is None:
                    summary["ringing_seconds"] = round(time.monotonic() - state["rang_at"], 3)
                    if not summary["status_code"]:
                        summary["status_code"] = info.lastStatusCode
                else:
                    summary["hangup_by"] = "local" if state["local_hangup"] else "remote"
                    summary["connected_seconds"] = round(time.monotonic() - state["answered_at"], 3)

        def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
            connect_audio(pj, self, args.record, args.play, args.loop, keep)

    class AgentAccount(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:  # noqa: N802
            summary["register_code"] = prm.code
            summary["registered"] = prm.code // 100 == 2 and prm.expiration > 0

        def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
            call = AgentCall(self, prm.callId)
            if state["call"] is not None:  # one call at a time: a busy agent
                keep.setdefault("extra", []).append(call)
                busy = pj.CallOpParam()
                busy.statusCode = 486
                call.hangup(busy)
                return
            state["call"] = call
            state["rang_at"] = time.monotonic()
            summary["incoming"] = True
            summary.update(parse_invite(prm.rdata.wholeMsg))
            ringing = pj.CallOpParam()
            ringing.statusCode = 180
            call.answer(ringing)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "callcenter-test-agent"
    cfg.logConfig.level = args.pj_log_level
    cfg.logConfig.consoleLevel = args.pj_log_level
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    local = ep.transportGetInfo(tid).localName

    acc = AgentAccount()
    acfg = pj.AccountConfig()
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = 0
    if args.register:
        host = args.register.split(":", 1)[1].split(";", 1)[0]
        acfg.idUri = f"sip:{args.username}@{host}"
        acfg.regConfig.registrarUri = args.register
        acfg.regConfig.timeoutSec = 300
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", args.username, 0, args.password)
        )
    else:
        acfg.idUri = f"sip:{args.username}@{local}"
    try:
        acc.create(acfg, True)
        deadline = time.monotonic() + 10.0
        while args.register and not summary["register_code"] and time.monotonic() < deadline:
            ep.libHandleEvents(10)
        emit(
            {
                "ready": True,
                "sip_port": int(local.rsplit(":", 1)[1]),
                "registered": summary["registered"],
                "register_code": summary["register_code"],
            }
        )
        started = time.monotonic()
        pending = sorted(args.dtmf)  # (seconds after our answer, digits, method)
        while not state["ended"]:
            ep.libHandleEvents(10)
            now = time.monotonic()
            call = state["call"]
            if call is None:
                if now - started > args.wait:
                    break
                continue
            rang_at, answered_at = state["rang_at"], state["answered_at"]
            if answered_at is None:
                due = args.answer_after is not None and now - rang_at >= args.answer_after
                if due and not state["responded"]:
                    state["responded"] = True
                    prm = pj.CallOpParam()
                    if args.reject is not None:
                        prm.statusCode = args.reject
                        summary["status_code"] = args.reject
                        call.hangup(prm)
                    else:
                        prm.statusCode = 200
                        call.answer(prm)
                elif now - rang_at > args.wait and not state["local_hangup"]:
                    state["local_hangup"] = True
                    call.hangup(pj.CallOpParam())
                continue
            while pending and now - answered_at >= pending[0][0]:
                _, digits, method = pending.pop(0)
                dtmf = pj.CallSendDtmfParam()
                dtmf.digits = digits
                dtmf.method = (
                    pj.PJSUA_DTMF_METHOD_SIP_INFO
                    if method == "info"
                    else pj.PJSUA_DTMF_METHOD_RFC2833
                )
                call.sendDtmf(dtmf)
            if args.hold is not None and not state["local_hangup"]:
                talked = now - answered_at
                if state["hold"] == "no" and talked >= args.hold[0]:
                    state["hold"] = "held"
                    call.setHold(pj.CallOpParam())
                elif state["hold"] == "held" and talked >= args.hold[1]:
                    state["hold"] = "resumed"
                    resume = pj.CallOpParam(True)  # default call settings: audio kept
                    resume.opt.flag = pj.PJSUA_CALL_UNHOLD
                    call.reinvite(resume)
            if now - answered_at >= args.duration and not state["local_hangup"]:
                state["local_hangup"] = True
                call.hangup(pj.CallOpParam())
        for _ in range(10):  # let the BYE/200 (or un-REGISTER) exchange finish
            ep.libHandleEvents(20)
    except Exception as exc:
        info = getattr(exc, "info", None)
        summary["error"] = str(info()) if callable(info) else str(exc)
    keep.clear()  # destroys the recorder: the WAV header is finalised here
    # Every Call reference must go before libDestroy(): its destructor asserts a live pjsua.
    call = state["call"] = None
    acc.shutdown()
    ep.libDestroy()
    emit(summary)
    return 0 if summary["error"] is None else 1
