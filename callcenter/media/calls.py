"""pjsua2 subclasses of a media worker: thin shims that forward callbacks to a listener.

pjsua2 invokes these from inside ``libHandleEvents`` (SIP callbacks, main thread) or from its
media threads (DTMF, end of file). The shims never act themselves; the listener decides what may
run now and what must wait for the main loop.
"""

from __future__ import annotations

from typing import Protocol

import pjsua2 as pj


class CallListener(Protocol):
    def incoming(self, call_id: int, invite: str) -> None: ...

    def call_state(self, call: MediaCall) -> None: ...

    def media_state(self, call: MediaCall) -> None: ...

    def dtmf_digit(self, call: MediaCall, digit: str, method: int) -> None: ...

    def transfer_status(self, call: MediaCall, code: int, reason: str, final: bool) -> None: ...

    def refer_answered(self, call: MediaCall, code: int, reason: str) -> None: ...

    def playback_ended(self, player: Playback) -> None: ...


class WorkerAccount(pj.Account):  # type: ignore[misc]
    """The worker's only account: every inbound INVITE arrives here."""

    def __init__(self, listener: CallListener) -> None:
        super().__init__()
        self._listener = listener

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802 (pjsua2 API)
        self._listener.incoming(prm.callId, prm.rdata.wholeMsg)


class MediaCall(pj.Call):  # type: ignore[misc]
    """One SIP call leg. ``sip_call_id`` is the SIP Call-ID, the name the controller uses."""

    def __init__(self, account: WorkerAccount, call_id: int, listener: CallListener) -> None:
        super().__init__(account, call_id)
        self._listener = listener
        self.sip_call_id = ""

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        self._listener.call_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        self._listener.media_state(self)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        self._listener.dtmf_digit(self, prm.digit, prm.method)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        self._listener.transfer_status(self, prm.statusCode, prm.reason, prm.finalNotify)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # noqa: N802
        # Only the final answer to our own REFER matters: pjsua2 does not always report a
        # rejected REFER through onCallTransferStatus.
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = event.body.tsxState.tsx
        if (
            tsx.role == pj.PJSIP_ROLE_UAC
            and tsx.method == "REFER"
            and tsx.statusCode >= 200
            and tsx.state in (pj.PJSIP_TSX_STATE_COMPLETED, pj.PJSIP_TSX_STATE_TERMINATED)
        ):
            self._listener.refer_answered(self, tsx.statusCode, tsx.statusText)


class Playback(pj.AudioMediaPlayer):  # type: ignore[misc]
    """A player for one ``play`` command; ``token`` identifies it in ``play_done``."""

    def __init__(self, listener: CallListener, sip_call_id: str, token: str, loop: bool) -> None:
        super().__init__()
        self._listener = listener
        self.sip_call_id = sip_call_id
        self.token = token
        self.loop = loop

    def onEof2(self) -> None:  # noqa: N802
        if not self.loop:
            self._listener.playback_ended(self)
