"""The routing brain of the SIP front: callers on one side, media workers on the other.

A dialog-stateful, record-routing proxy. Each new inbound INVITE is admitted by the
application (:class:`~callcenter.sip.admission.CallAdmission`) and forwarded to the media
worker it names; everything else in that dialog follows by Call-ID. The front keeps enough
transaction state to make UDP behave (answer retransmissions, ACK a worker's error answers,
retransmit toward a silent worker) and to end a dialog itself when a worker dies.

Outbound (agent legs): an initial INVITE from a worker that holds a dialog with us is a call
to an agent. Its Request-URI user is looked up with the :class:`ContactLocator` (none set:
``403``); no such AOR: ``404``; no live binding: ``480``. Otherwise the INVITE goes to the first
contact's flow (NAT: where its REGISTER came from) with our Via and Record-Route, so the
ACK/BYE/re-INVITE of both sides come through us. We answer the worker ``100`` at once,
retransmit toward a UDP phone ourselves, ACK the phone's error answers (and pass them on),
forward the worker's CANCEL, and time out a phone that never answers (``408``).

No sockets here: messages come in as ``(bytes, Flow)`` and go out through a
:class:`~callcenter.sip.transport.Network`; time comes from an ``IReactorTime``. Unit tests
drive it with a fake network and ``twisted.internet.task.Clock``.

-*- test-case-name: tests.unit.sip.test_proxy -*-
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from callcenter.sip.admission import Admission, CallAdmission, InboundCall, Reject, RouteTo
from callcenter.sip.clock import Scheduler
from callcenter.sip.dialogs import (
    Completed,
    Dialog,
    DialogState,
    OutboundDialog,
    OutboundState,
    OwnRequest,
)
from callcenter.sip.fields import (
    BRANCH_MAGIC,
    display_name_text,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from callcenter.sip.locator import ContactLocator, Location
from callcenter.sip.message import (
    Headers,
    MessageHead,
    SipParseError,
    SipRequest,
    SipResponse,
    Via,
    parse_message,
    response_for,
)
from callcenter.sip.ratelimit import SourceRateLimiter
from callcenter.sip.settings import FrontSettings
from callcenter.sip.stats import FrontStats
from callcenter.sip.transport import Address, Flow, Network

log = logging.getLogger(__name__)

BRANCH_PREFIX = BRANCH_MAGIC + "ccf"
"""Every branch the front creates starts with this: how we recognise our own Via."""

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK"
ACCEPT = "application/sdp"
DIALOG_ONLY_METHODS = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})
KNOWN_METHODS = frozenset({"MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH"})

MethodResult: TypeAlias = SipResponse | Deferred[SipResponse]
MethodService: TypeAlias = Callable[[SipRequest, Flow], MethodResult]
"""Answers an out-of-dialog request (e.g. REGISTER): gets the request and the flow it came
on (``received``/``rport`` already stamped on its top Via), returns the response to send."""


class SipProxy:
    """Everything the SIP front decides. See the module docstring."""

    def __init__(
        self,
        clock: Scheduler,
        network: Network,
        settings: FrontSettings,
        admission: CallAdmission,
        locator: ContactLocator | None = None,
    ) -> None:
        self._clock = clock
        self._network = network
        self._settings = settings
        self._admission = admission
        self._locator = locator
        self._dialogs: dict[str, Dialog] = {}
        self._outbound: dict[str, OutboundDialog] = {}
        self._completed: dict[str, Completed] = {}
        self._own: dict[str, OwnRequest] = {}
        self._workers: Counter[Address] = Counter()
        self._services: dict[str, MethodService] = {}
        self.stats = FrontStats()
        self._names = {settings.via_host.lower(), settings.host.lower()}
        if settings.host in ("", "0.0.0.0", "::"):
            self._names.add("127.0.0.1")  # workers on this host reach a wildcard on loopback
        self._limit_requests = self._limiter(settings.request_rate, settings.request_burst)
        self._limit_invites = self._limiter(settings.invite_rate, settings.invite_burst)
        self._limit_rejects = self._limiter(settings.reject_rate, settings.reject_burst)

    def _limiter(self, rate: float, burst: float) -> SourceRateLimiter:
        return SourceRateLimiter(
            self._clock.seconds, rate, burst, self._settings.rate_limit_sources
        )

    # -- public ------------------------------------------------------------------------

    def add_method_service(self, method: str, service: MethodService) -> None:
        """Answer out-of-dialog ``method`` requests with ``service`` (REGISTER goes here)."""
        self._services[method.upper()] = service

    def set_contact_locator(self, locator: ContactLocator | None) -> None:
        """Route the workers' INVITEs to agents with ``locator`` (None: refuse them, 403)."""
        self._locator = locator

    def dialog_count(self) -> int:
        """Live dialogs: callers' calls and agent legs (tombstones not counted)."""
        outbound = sum(1 for d in self._outbound.values() if d.state is not OutboundState.COMPLETED)
        return len(self._dialogs) + outbound

    def stats_dict(self) -> dict[str, object]:
        return self.stats.as_dict(self.dialog_count())

    def abort_dialog(self, call_id: str, reason: str) -> None:
        """The dialog's worker is gone: end the call toward the caller and forget it."""
        dialog = self._dialogs.get(call_id)
        if dialog is None:
            log.info("abort_dialog(%s): no such dialog", call_id)
            return
        self.stats.aborted += 1
        log.info("aborting dialog %s: %s", call_id, reason)
        if dialog.state in (DialogState.ANSWERED, DialogState.CONFIRMED, DialogState.TERMINATING):
            self._send_bye_to_caller(dialog, reason)
            self._end_dialog(dialog)
        else:
            response = self._respond_to(dialog.invite, 503, to_tag=self._tag_for(dialog))
            response.headers.add("Reason", _reason_header(503, reason))
            self._complete_invite(dialog, response)

    def close(self) -> None:
        """Cancel every timer (the front is stopping); dialogs are forgotten without signalling."""
        for dialog in list(self._dialogs.values()):
            dialog.timers.cancel_all()
        for completed in self._completed.values():
            completed.timers.cancel_all()
        for own in self._own.values():
            own.timers.cancel_all()
        for outbound in self._outbound.values():
            outbound.timers.cancel_all()
        self._outbound.clear()
        self._dialogs.clear()
        self._completed.clear()
        self._own.clear()

    # -- input -------------------------------------------------------------------------

    def message_received(self, data: bytes, flow: Flow) -> None:
        """Handle one message; never raises (a bug is logged and counted)."""
        try:
            self._receive(data, flow)
        except Exception:
            self.stats.internal_errors += 1
            log.exception("error handling a message from %s", flow)

    def stream_error(self, flow: Flow, reason: str) -> None:
        self.stats.parse_errors += 1
        log.info("closing TCP connection from %s: %s", flow, reason)

    def _receive(self, data: bytes, flow: Flow) -> None:
        max_size = self._settings.max_message_size
        too_large = len(data) > max_size
        try:
            message = parse_message(data, max_size=len(data) if too_large else max_size)
        except SipParseError as exc:
            self.stats.parse_errors += 1
            self._answer_malformed(exc, flow)
            return
        if too_large:
            self.stats.parse_errors += 1
            if isinstance(message, SipRequest) and message.method != "ACK":
                self._answer_limited(flow, message, 513, "Message Too Large")
            else:
                self.stats.dropped += 1
            return
        try:
            if isinstance(message, SipResponse):
                self._on_response(message, flow)
            else:
                self._on_request(message, flow)
        except SipParseError as exc:
            # A header we only parse lazily (Contact, Route...) turned out malformed.
            self.stats.parse_errors += 1
            if isinstance(message, SipRequest) and message.method != "ACK":
                self._answer_limited(flow, message, 400, f"Bad Request ({exc.reason})")
            else:
                self.stats.dropped += 1

    def _answer_malformed(self, exc: SipParseError, flow: Flow) -> None:
        head = exc.head
        if not (
            isinstance(head, MessageHead)
            and head.is_request
            and head.method != "ACK"
            and head.headers.get("Via") is not None
        ):
            self.stats.dropped += 1
            log.debug("dropped unparseable message from %s: %s", flow, exc.reason)
            return
        self._answer_limited(flow, head, 400, f"Bad Request ({exc.reason})")

    def _answer_limited(
        self, flow: Flow, request: SipRequest | MessageHead, status: int, reason: str
    ) -> None:
        if not self._is_worker(flow) and not self._limit_requests.allow(flow.address[0]):
            self.stats.rate_limited += 1
            return
        self._reply(flow, response_for(request, status, reason, to_tag=_random_tag()))

    # -- requests ----------------------------------------------------------------------

    def _on_request(self, request: SipRequest, flow: Flow) -> None:
        call_id = request.call_id
        dialog = self._dialogs.get(call_id)
        if dialog is not None and dialog.worker == flow.address and flow.transport == "udp":
            self.stats.requests[request.method] += 1
            self._from_worker(request, dialog)
            return
        from_worker = self._is_worker(flow)
        if not from_worker and not self._limit_requests.allow(flow.address[0]):
            self.stats.rate_limited += 1
            return
        self.stats.requests[request.method] += 1
        method = request.method
        self._stamp_via(request, flow)
        if method != "ACK":
            max_forwards = request.max_forwards
            if max_forwards is not None and max_forwards <= 0:
                self._reply_error(flow, request, 483)
                return
            if self._looped(request):
                self._reply_error(flow, request, 482)
                return
        outbound = self._outbound.get(call_id)
        if outbound is not None:
            self._outbound_request(request, flow, outbound)
            return
        to_tag = request.to_tag
        if method == "ACK":
            self._caller_ack(request, dialog)
        elif method == "CANCEL":
            self._caller_cancel(request, flow, dialog)
        elif method == "INVITE" and to_tag is None:
            if from_worker:
                self._outbound_invite(request, flow)
            else:
                self._initial_invite(request, flow, dialog)
        elif to_tag is not None:
            if dialog is not None and dialog.worker is not None:
                self._caller_in_dialog(request, flow, dialog)
            else:
                self._reply_error(flow, request, 481)
        else:
            self._out_of_dialog(request, flow)

    def _stamp_via(self, request: SipRequest, flow: Flow) -> None:
        """Record where the request really came from (RFC 3261 18.2.1, RFC 3581).

        Over TCP we always add ``rport`` so that the response finds the connection again.
        """
        vias = request.headers.get_all("Via")
        via = parse_via(vias[0])
        host, port = flow.address
        if via.host.strip("[]") != host or via.wants_rport or flow.transport == "tcp":
            via.params["received"] = host
        if via.wants_rport or flow.transport == "tcp":
            via.params["rport"] = str(port)
        request.headers.replace_all("Via", [str(via), *vias[1:]])

    def _looped(self, request: SipRequest) -> bool:
        return any(self._is_ours(via) for via in request.vias)

    def _is_ours(self, via: Via) -> bool:
        return (
            (via.branch or "").startswith(BRANCH_PREFIX)
            and via.host.lower() in self._names
            and (via.port or 5060) == self._settings.port
        )

    def _is_worker(self, flow: Flow) -> bool:
        return flow.transport == "udp" and self._workers[flow.address] > 0

    def _initial_invite(self, request: SipRequest, flow: Flow, dialog: Dialog | None) -> None:
        call_id = request.call_id
        branch = request.top_via.branch or ""
        completed = self._completed.get(call_id)
        if completed is not None and completed.invite_branch == branch:
            self.stats.retransmissions_absorbed += 1
            self._network.send(flow, completed.response)
            return
        if dialog is not None:
            if dialog.invite_branch == branch:
                self.stats.retransmissions_absorbed += 1
                self._network.send(flow, dialog.last_provisional)
            elif dialog.invite.cseq.number == request.cseq.number:
                self._reply_error(flow, request, 482, "Loop Detected (merged request)")
            else:
                self._reply_error(flow, request, 500, headers=[("Retry-After", "1")])
            return
        if completed is not None:
            self._forget_completed(completed)
        ip = flow.address[0]
        if not self._limit_invites.allow(ip):
            self.stats.rate_limited += 1
            if self._limit_rejects.allow(ip):
                retry = str(self._limit_invites.retry_after(ip))
                self._reply_error(flow, request, 503, headers=[("Retry-After", retry)])
            return
        caller = request.from_
        caller_uri = parse_uri(caller.uri)
        contact = request.headers.get("Contact")
        target = parse_name_addr(contact, "Contact").uri if contact else caller.uri
        dialog = Dialog(
            call_id=call_id,
            caller=flow,
            invite=request,
            invite_branch=branch,
            caller_target=target,
            caller_route=[
                r for r in request.headers.get_all("Record-Route") if not self._our_route(r)
            ],
        )
        self._dialogs[call_id] = dialog
        trying = self._respond_to(request, 100)
        dialog.last_provisional = trying.to_bytes()
        self._network.send(flow, dialog.last_provisional)
        dialog.timers.set(
            "lifetime",
            self._clock.callLater(self._settings.max_dialog_seconds, self._expire, dialog),
        )
        call = InboundCall(
            call_id=call_id,
            caller=caller_uri.user,
            caller_uri=caller.uri,
            caller_name=display_name_text(caller.display_name),
            did=parse_uri(request.uri).user,
            source=flow.address,
            transport=flow.transport,
            request_uri=request.uri,
            cseq=request.cseq.number,
            authorization=(
                *request.headers.get_all("Proxy-Authorization"),
                *request.headers.get_all("Authorization"),
            ),
            user_agent=request.headers.get("User-Agent") or "",
        )
        try:
            result = _as_deferred(self._admission.admit(call))
        except Exception:
            result = fail()
        result.addCallbacks(
            self._admitted, self._admission_failed, callbackArgs=(dialog,), errbackArgs=(dialog,)
        )
        result.addErrback(self._internal_error)

    def _admitted(self, decision: Admission, dialog: Dialog) -> None:
        dialog.admission_pending = False
        if dialog.ended:
            # Cancelled or aborted while the application was deciding.
            self._notify_ended(dialog.call_id)
            return
        if isinstance(decision, Reject):
            response = self._respond_to(
                dialog.invite,
                decision.code,
                decision.reason,
                headers=list(decision.headers.items()),
                to_tag=self._tag_for(dialog),
            )
            self.stats.rejects[decision.code] += 1
            self._complete_invite(dialog, response)
            return
        if not isinstance(decision, RouteTo):
            raise TypeError(f"admission returned {decision!r}")
        self._forward_invite(dialog, decision.worker)

    def _admission_failed(self, failure: Failure, dialog: Dialog) -> None:
        log.error("admission failed for %s: %s", dialog.call_id, failure.getTraceback())
        dialog.admission_pending = False
        if dialog.ended:
            self._notify_ended(dialog.call_id)
            return
        self.stats.rejects[500] += 1
        self._complete_invite(
            dialog, self._respond_to(dialog.invite, 500, to_tag=self._tag_for(dialog))
        )

    def _internal_error(self, failure: Failure) -> None:
        self.stats.internal_errors += 1
        log.error("internal error: %s", failure.getTraceback())

    def _forward_invite(self, dialog: Dialog, worker: Address) -> None:
        request = dialog.invite
        forwarded = SipRequest(
            method=request.method,
            uri=request.uri,
            headers=request.headers.copy(),
            body=request.body,
        )
        self._strip_our_routes(forwarded)
        branch = self._derive_branch(request)
        if dialog.caller.transport == "tcp":
            # RFC 5658: one entry per side when the transport changes; the worker's on top.
            forwarded.headers.add_first("Record-Route", self._record_route("tcp"))
        forwarded.headers.add_first("Record-Route", self._record_route("udp"))
        self._prepare_forward(forwarded, branch, "UDP")
        dialog.state = DialogState.PROCEEDING
        dialog.worker = worker
        self._workers[worker] += 1
        dialog.forwarded_branch = branch
        dialog.forwarded_invite = forwarded.to_bytes()
        self._network.send(Flow("udp", worker), dialog.forwarded_invite)
        t1 = self._settings.t1
        dialog.timers.set("A", self._clock.callLater(t1, self._timer_a, dialog, t1))
        dialog.timers.set("B", self._clock.callLater(64 * t1, self._timer_b, dialog))
        dialog.timers.set(
            "C", self._clock.callLater(self._settings.invite_timeout, self._timer_c, dialog)
        )

    def _timer_a(self, dialog: Dialog, interval: float) -> None:
        if dialog.ended or dialog.worker_responded or dialog.worker is None:
            return
        self._network.send(Flow("udp", dialog.worker), dialog.forwarded_invite)
        interval *= 2
        dialog.timers.set("A", self._clock.callLater(interval, self._timer_a, dialog, interval))

    def _timer_b(self, dialog: Dialog) -> None:
        if dialog.ended or dialog.worker_responded:
            return
        log.warning("worker %s never answered INVITE %s", dialog.worker, dialog.call_id)
        self.stats.rejects[408] += 1
        self._complete_invite(
            dialog, self._respond_to(dialog.invite, 408, to_tag=self._tag_for(dialog))
        )

    def _timer_c(self, dialog: Dialog) -> None:
        if dialog.ended or dialog.state is not DialogState.PROCEEDING:
            return
        log.warning("INVITE %s unanswered after %ss", dialog.call_id, self._settings.invite_timeout)
        self._send_cancel_to_worker(dialog)
        self.stats.rejects[408] += 1
        self._complete_invite(
            dialog, self._respond_to(dialog.invite, 408, to_tag=self._tag_for(dialog))
        )

    def _expire(self, dialog: Dialog) -> None:
        if not dialog.ended:
            log.warning(
                "dialog %s expired after %ss", dialog.call_id, self._settings.max_dialog_seconds
            )
            self._end_dialog(dialog)

    def _caller_ack(self, request: SipRequest, dialog: Dialog | None) -> None:
        if dialog is None or dialog.worker is None or request.to_tag is None:
            completed = self._completed.get(request.call_id)
            if completed is not None:
                completed.acked = True
                completed.timers.cancel("G")
            else:
                self.stats.dropped += 1
            return
        if dialog.state is DialogState.ANSWERED:
            dialog.state = DialogState.CONFIRMED
        self._forward_to(request, Flow("udp", dialog.worker), "UDP")

    def _caller_cancel(self, request: SipRequest, flow: Flow, dialog: Dialog | None) -> None:
        branch = request.top_via.branch or ""
        if dialog is None or dialog.invite_branch != branch:
            completed = self._completed.get(request.call_id)
            if completed is not None and completed.invite_branch == branch:
                self._reply(flow, self._respond_to(request, 200))
            else:
                self._reply_error(flow, request, 481)
            return
        if dialog.state is DialogState.ADMITTING:
            self._reply(flow, self._respond_to(request, 200))
            dialog.cancelled = True
            self._complete_invite(
                dialog, self._respond_to(dialog.invite, 487, to_tag=self._tag_for(dialog))
            )
        elif dialog.state is DialogState.PROCEEDING and dialog.worker is not None:
            dialog.cancelled = True
            self._forward_to(request, Flow("udp", dialog.worker), "UDP")
            dialog.timers.set(
                "cancel",
                self._clock.callLater(64 * self._settings.t1, self._cancel_timeout, dialog),
            )
        else:
            self._reply(flow, self._respond_to(request, 200))

    def _cancel_timeout(self, dialog: Dialog) -> None:
        if not dialog.ended and dialog.state is DialogState.PROCEEDING:
            self._complete_invite(
                dialog, self._respond_to(dialog.invite, 487, to_tag=self._tag_for(dialog))
            )

    def _caller_in_dialog(self, request: SipRequest, flow: Flow, dialog: Dialog) -> None:
        assert dialog.worker is not None
        if request.method in ("INVITE", "UPDATE"):
            contact = request.headers.get("Contact")
            if contact:
                dialog.caller_target = parse_name_addr(contact, "Contact").uri
        if request.method == "INVITE":
            self._reply(flow, self._respond_to(request, 100))
        self._forward_to(request, Flow("udp", dialog.worker), "UDP")
        if request.method == "BYE":
            self._bye_under_way(dialog)

    def _from_worker(self, request: SipRequest, dialog: Dialog) -> None:
        assert dialog.worker is not None
        worker = Flow("udp", dialog.worker)
        self._stamp_via(request, worker)
        if request.method not in ("ACK", "CANCEL"):
            dialog.worker_cseq = max(dialog.worker_cseq, request.cseq.number)
            max_forwards = request.max_forwards
            if max_forwards is not None and max_forwards <= 0:
                self._reply_error(worker, request, 483)
                return
        if request.method == "INVITE":
            self._reply(worker, self._respond_to(request, 100))
        self._forward_to(request, dialog.caller, dialog.caller.transport.upper())
        if request.method == "BYE":
            self._bye_under_way(dialog)

    def _bye_under_way(self, dialog: Dialog) -> None:
        dialog.state = DialogState.TERMINATING
        dialog.timers.set(
            "bye", self._clock.callLater(64 * self._settings.t1, self._expire_bye, dialog)
        )

    def _expire_bye(self, dialog: Dialog) -> None:
        if not dialog.ended:
            log.info("BYE for %s never answered; forgetting the dialog", dialog.call_id)
            self._end_dialog(dialog)

    def _out_of_dialog(self, request: SipRequest, flow: Flow) -> None:
        method = request.method
        service = self._services.get(method)
        if service is not None:
            try:
                result = _as_deferred(service(request, flow))
            except Exception:
                result = fail()
            result.addCallback(self._reply_later, flow)
            result.addErrback(self._service_failed, request, flow)
            return
        if method == "OPTIONS":
            self._reply(
                flow,
                self._respond_to(
                    request,
                    200,
                    headers=[("Allow", self._allow()), ("Accept", ACCEPT)],
                    to_tag=_random_tag(),
                ),
            )
        elif method in DIALOG_ONLY_METHODS:
            self._reply_error(flow, request, 481)
        elif method == "REGISTER":
            self._reply_error(flow, request, 501)
        elif method in KNOWN_METHODS:
            self._reply_error(flow, request, 405, headers=[("Allow", self._allow())])
        else:
            self._reply_error(flow, request, 501, headers=[("Allow", self._allow())])

    def _reply_later(self, response: SipResponse, flow: Flow) -> None:
        self._reply(flow, response)

    def _service_failed(self, failure: Failure, request: SipRequest, flow: Flow) -> None:
        log.error("%s service failed: %s", request.method, failure.getTraceback())
        self._reply_error(flow, request, 500)

    def _allow(self) -> str:
        extra = sorted(m for m in self._services if m not in ALLOW)
        return ", ".join([ALLOW, *extra])

    # -- responses ---------------------------------------------------------------------

    def _on_response(self, response: SipResponse, flow: Flow) -> None:
        vias = response.headers.get_all("Via")
        top = parse_via(vias[0])
        if not self._is_ours(top):
            self.stats.dropped += 1
            log.debug("dropped a response not via us from %s", flow)
            return
        branch = top.branch or ""
        response.headers.pop_first("Via")
        if len(vias) == 1:
            self._own_response(branch)
            return
        call_id = response.call_id
        outbound = self._outbound.get(call_id)
        if outbound is not None:
            self._outbound_response(outbound, response, branch)
            return
        cseq = response.cseq
        dialog = self._dialogs.get(call_id)
        if (
            cseq.method == "INVITE"
            and dialog is not None
            and dialog.forwarded_branch == branch
            and dialog.worker == flow.address
        ):
            self._initial_invite_response(dialog, response)
            return
        completed = self._completed.get(call_id)
        if (
            cseq.method == "INVITE"
            and completed is not None
            and completed.forwarded_branch == branch
        ):
            if completed.ack_to_worker and completed.worker is not None:
                self._network.send(Flow("udp", completed.worker), completed.ack_to_worker)
            return
        if response.status == 100:
            return  # hop by hop: we sent our own
        self._relay(response)
        if cseq.method == "BYE" and response.status >= 200 and dialog is not None:
            self._end_dialog(dialog)

    def _initial_invite_response(self, dialog: Dialog, response: SipResponse) -> None:
        dialog.worker_responded = True
        dialog.timers.cancel("A")
        dialog.timers.cancel("B")
        status = response.status
        if status == 100:
            return
        if status < 200:
            data = self._relay(response)
            if data:
                dialog.last_provisional = data
            return
        if status < 300:
            if dialog.state is DialogState.PROCEEDING:
                dialog.state = DialogState.ANSWERED
                dialog.worker_tag = response.to_tag
                dialog.timers.cancel("C")
                dialog.timers.cancel("cancel")
            self._relay(response)  # and every 2xx retransmission
            return
        ack = self._ack_for(dialog, response)
        assert dialog.worker is not None
        self._network.send(Flow("udp", dialog.worker), ack)
        self._complete_invite(dialog, response, ack_to_worker=ack)

    def _relay(self, response: SipResponse) -> bytes:
        """Send a response to the next Via (``received``/``rport`` honoured)."""
        via = response.top_via
        flow = Flow(via.transport.lower(), via.response_address())
        data = response.to_bytes()
        if not self._network.send(flow, data):
            self.stats.dropped += 1
            return b""
        return data

    def _own_response(self, branch: str) -> None:
        own = self._own.pop(branch, None)
        if own is None:
            self.stats.dropped += 1
            return
        own.timers.cancel_all()

    # -- outbound: a worker's INVITE to an agent -----------------------------------------

    def _outbound_invite(self, request: SipRequest, flow: Flow) -> None:
        if self._locator is None:
            self._reply_error(flow, request, 403, "Outbound Calls Not Routed")
            return
        aor = parse_uri(request.uri).user
        if not aor:
            self._reply_error(flow, request, 404, "Not Found (no user in the Request-URI)")
            return
        dialog = OutboundDialog(
            call_id=request.call_id,
            worker=flow.address,
            invite=request,
            invite_branch=request.top_via.branch or "",
        )
        self._outbound[dialog.call_id] = dialog
        self._workers[dialog.worker] += 1
        trying = self._respond_to(request, 100)
        dialog.last_provisional = trying.to_bytes()
        self._network.send(flow, dialog.last_provisional)
        dialog.timers.set(
            "lifetime",
            self._clock.callLater(
                self._settings.max_dialog_seconds, self._end_outbound, dialog, "expired"
            ),
        )
        try:
            result = _location_deferred(self._locator.locate(aor))
        except Exception:
            result = fail()
        result.addCallbacks(
            self._located, self._locate_failed, callbackArgs=(dialog,), errbackArgs=(dialog,)
        )
        result.addErrback(self._internal_error)

    def _located(self, location: Location, dialog: OutboundDialog) -> None:
        if dialog.ended or dialog.state is not OutboundState.LOCATING:
            return  # cancelled while the locator was looking
        if location is None:
            self._outbound_final(dialog, 404, "Not Found")
        elif not location:
            self._outbound_final(dialog, 480, "Temporarily Unavailable")
        else:
            self._forward_outbound(dialog, location[0].uri, location[0].flow)

    def _locate_failed(self, failure: Failure, dialog: OutboundDialog) -> None:
        log.error("locating %s failed: %s", dialog.invite.uri, failure.getTraceback())
        if not dialog.ended and dialog.state is OutboundState.LOCATING:
            self._outbound_final(dialog, 500, "Server Internal Error")

    def _forward_outbound(self, dialog: OutboundDialog, uri: str, agent: Flow) -> None:
        request = dialog.invite
        forwarded = SipRequest(
            method="INVITE", uri=uri, headers=request.headers.copy(), body=request.body
        )
        self._strip_our_routes(forwarded)
        # RFC 5658: the entry facing the agent (the UAS) on top, the worker's below it.
        forwarded.headers.add_first("Record-Route", self._record_route("udp"))
        if agent.transport == "tcp":
            forwarded.headers.add_first("Record-Route", self._record_route("tcp"))
        branch = self._derive_branch(request)
        self._prepare_forward(forwarded, branch, agent.transport.upper())
        dialog.state = OutboundState.PROCEEDING
        dialog.agent = agent
        dialog.forwarded = forwarded
        dialog.forwarded_branch = branch
        dialog.forwarded_bytes = forwarded.to_bytes()
        log.info("agent leg %s: INVITE %s via %s", dialog.call_id, uri, agent)
        if not self._network.send(agent, dialog.forwarded_bytes):
            self._outbound_final(dialog, 480, "Temporarily Unavailable (no connection)")
            return
        t1 = self._settings.t1
        if agent.transport == "udp":
            dialog.timers.set("A", self._clock.callLater(t1, self._outbound_timer_a, dialog, t1))
        dialog.timers.set("B", self._clock.callLater(64 * t1, self._outbound_timer_b, dialog))
        timeout = self._settings.invite_timeout
        dialog.timers.set("C", self._clock.callLater(timeout, self._outbound_timer_c, dialog))

    def _outbound_timer_a(self, dialog: OutboundDialog, interval: float) -> None:
        if dialog.ended or dialog.agent_responded or dialog.agent is None:
            return
        self._network.send(dialog.agent, dialog.forwarded_bytes)
        interval *= 2
        dialog.timers.set(
            "A", self._clock.callLater(interval, self._outbound_timer_a, dialog, interval)
        )

    def _outbound_timer_b(self, dialog: OutboundDialog) -> None:
        if not dialog.ended and not dialog.agent_responded:
            log.warning("agent leg %s: %s never answered", dialog.call_id, dialog.agent)
            self._outbound_final(dialog, 408, "Request Timeout")

    def _outbound_timer_c(self, dialog: OutboundDialog) -> None:
        if not dialog.ended and dialog.state is OutboundState.PROCEEDING:
            self._send_cancel_to_agent(dialog)
            self._outbound_final(dialog, 408, "Request Timeout")

    def _outbound_request(self, request: SipRequest, flow: Flow, dialog: OutboundDialog) -> None:
        """A request in (or retransmitted into) an agent leg, from either side."""
        method = request.method
        from_worker = flow == Flow("udp", dialog.worker)
        if method == "ACK":
            self._outbound_ack_received(request, from_worker, dialog)
        elif method == "CANCEL":
            self._outbound_cancel(request, flow, dialog)
        elif method == "INVITE" and request.to_tag is None:
            if from_worker and request.top_via.branch == dialog.invite_branch:
                self.stats.retransmissions_absorbed += 1
                self._network.send(flow, dialog.final or dialog.last_provisional)
            else:
                self._reply_error(flow, request, 482, "Loop Detected (merged request)")
        elif (
            request.to_tag is None
            or dialog.agent is None
            or dialog.state in (OutboundState.LOCATING, OutboundState.COMPLETED)
        ):
            self._reply_error(flow, request, 481)
        else:
            if method == "INVITE":
                self._reply(flow, self._respond_to(request, 100))
            if from_worker:
                self._forward_to(request, dialog.agent, dialog.agent.transport.upper())
            else:
                self._forward_to(request, Flow("udp", dialog.worker), "UDP")
            if method == "BYE":
                dialog.state = OutboundState.TERMINATING
                dialog.timers.set(
                    "bye",
                    self._clock.callLater(
                        64 * self._settings.t1, self._end_outbound, dialog, "BYE unanswered"
                    ),
                )

    def _outbound_ack_received(
        self, request: SipRequest, from_worker: bool, dialog: OutboundDialog
    ) -> None:
        if dialog.state is OutboundState.COMPLETED:
            dialog.acked = True  # the worker's ACK of the final error we passed on
            dialog.timers.cancel("G")
        elif from_worker and dialog.agent is not None and request.to_tag is not None:
            if dialog.state is OutboundState.ANSWERED:
                dialog.state = OutboundState.CONFIRMED
            self._forward_to(request, dialog.agent, dialog.agent.transport.upper())
        elif dialog.agent is not None and request.to_tag is not None:
            # The ACK of a re-INVITE the agent's phone sent (hold, resume): without it the
            # worker keeps that INVITE open and refuses the next one (500).
            self._forward_to(request, Flow("udp", dialog.worker), "UDP")
        else:
            self.stats.dropped += 1

    def _outbound_cancel(self, request: SipRequest, flow: Flow, dialog: OutboundDialog) -> None:
        if flow != Flow("udp", dialog.worker) or request.top_via.branch != dialog.invite_branch:
            self._reply_error(flow, request, 481)
            return
        self._reply(flow, self._respond_to(request, 200))
        if dialog.cancelled or dialog.state not in (
            OutboundState.LOCATING,
            OutboundState.PROCEEDING,
        ):
            return
        dialog.cancelled = True
        if dialog.state is OutboundState.LOCATING:
            self._outbound_final(dialog, 487, "Request Terminated")
            return
        self._send_cancel_to_agent(dialog)
        if not dialog.agent_responded:
            # Nothing reached the phone yet (or its answers are lost): do not keep the worker
            # waiting 64*T1 for a 487 that may never come.
            self._outbound_final(dialog, 487, "Request Terminated")
            return
        wait = 64 * self._settings.t1
        dialog.timers.set(
            "cancel", self._clock.callLater(wait, self._outbound_cancel_timeout, dialog)
        )

    def _outbound_cancel_timeout(self, dialog: OutboundDialog) -> None:
        if not dialog.ended and dialog.state is OutboundState.PROCEEDING:
            self._outbound_final(dialog, 487, "Request Terminated")

    def _send_cancel_to_agent(self, dialog: OutboundDialog) -> None:
        forwarded = dialog.forwarded
        if forwarded is None or dialog.agent is None:
            return
        headers = Headers()
        headers.add("Via", self._via(dialog.agent.transport.upper(), dialog.forwarded_branch))
        headers.add("Max-Forwards", "70")
        headers.add("From", forwarded.headers.get("From") or "")
        headers.add("To", forwarded.headers.get("To") or "")
        headers.add("Call-ID", forwarded.call_id)
        headers.add("CSeq", f"{forwarded.cseq.number} CANCEL")
        for route in forwarded.headers.get_all("Route"):
            headers.add("Route", route)
        headers.add("User-Agent", self._settings.server_name)
        cancel = SipRequest(method="CANCEL", uri=forwarded.uri, headers=headers)
        self._send_own(dialog.agent, cancel, dialog.forwarded_branch)

    def _outbound_response(
        self, dialog: OutboundDialog, response: SipResponse, branch: str
    ) -> None:
        """A response from the agent's side (our Via already popped)."""
        status = response.status
        if response.cseq.method == "INVITE" and branch == dialog.forwarded_branch:
            dialog.agent_responded = True
            dialog.timers.cancel("A")
            dialog.timers.cancel("B")
            if dialog.state is OutboundState.COMPLETED:
                if status >= 300 and dialog.ack_to_agent and dialog.agent is not None:
                    self._network.send(dialog.agent, dialog.ack_to_agent)
                return
            if status == 100:
                return  # hop by hop: the worker had ours
            if status < 200:
                data = self._relay(response)
                if data:
                    dialog.last_provisional = data
            elif status < 300:
                if dialog.state is OutboundState.PROCEEDING:
                    dialog.state = OutboundState.ANSWERED
                    dialog.timers.cancel("C")
                    dialog.timers.cancel("cancel")
                self._relay(response)  # and every 2xx retransmission: the worker ACKs them
            else:
                self._agent_refused(dialog, response)
            return
        if status == 100:
            return
        self._relay(response)
        if response.cseq.method == "BYE" and status >= 200:
            self._end_outbound(dialog, "BYE answered")

    def _agent_refused(self, dialog: OutboundDialog, response: SipResponse) -> None:
        """A final error from the phone (486, 603, 487 after CANCEL...): ACK it ourselves
        (RFC 3261 16.7: the ACK of a non-2xx is hop by hop) and pass it to the worker."""
        forwarded = dialog.forwarded
        assert forwarded is not None and dialog.agent is not None
        headers = Headers()
        headers.add("Via", self._via(dialog.agent.transport.upper(), dialog.forwarded_branch))
        headers.add("Max-Forwards", "70")
        headers.add("From", forwarded.headers.get("From") or "")
        headers.add("To", response.headers.get("To") or "")
        headers.add("Call-ID", forwarded.call_id)
        headers.add("CSeq", f"{forwarded.cseq.number} ACK")
        for route in forwarded.headers.get_all("Route"):
            headers.add("Route", route)
        ack = SipRequest(method="ACK", uri=forwarded.uri, headers=headers).to_bytes()
        self._network.send(dialog.agent, ack)
        dialog.ack_to_agent = ack
        self._outbound_complete(dialog, response)

    def _outbound_final(self, dialog: OutboundDialog, status: int, reason: str) -> None:
        """Our own final error answer to the worker's INVITE."""
        self.stats.rejects[status] += 1
        to_tag = hashlib.sha256(f"{dialog.call_id}|{dialog.invite_branch}".encode()).hexdigest()
        response = self._respond_to(dialog.invite, status, reason, to_tag=to_tag[:16])
        self._outbound_complete(dialog, response)

    def _outbound_complete(self, dialog: OutboundDialog, response: SipResponse) -> None:
        """Send a final error to the worker and keep the dialog as a tombstone for 64*T1:
        replay it to the worker until ACKed (Timer G), and absorb late copies."""
        log.info("agent leg %s: %d %s", dialog.call_id, response.status, response.reason)
        dialog.timers.cancel_all()
        dialog.state = OutboundState.COMPLETED
        via = response.top_via
        dialog.final = response.to_bytes()
        self._network.send(Flow(via.transport.lower(), via.response_address()), dialog.final)
        t1 = self._settings.t1
        dialog.timers.set("G", self._clock.callLater(t1, self._outbound_timer_g, dialog, t1))
        dialog.timers.set(
            "H", self._clock.callLater(64 * t1, self._end_outbound, dialog, "completed")
        )

    def _outbound_timer_g(self, dialog: OutboundDialog, interval: float) -> None:
        if dialog.ended or dialog.acked:
            return
        self._network.send(Flow("udp", dialog.worker), dialog.final)
        interval = min(interval * 2, self._settings.t2)
        dialog.timers.set(
            "G", self._clock.callLater(interval, self._outbound_timer_g, dialog, interval)
        )

    def _end_outbound(self, dialog: OutboundDialog, why: str) -> None:
        if dialog.ended:
            return
        log.debug("agent leg %s forgotten: %s", dialog.call_id, why)
        dialog.ended = True
        dialog.timers.cancel_all()
        if self._outbound.get(dialog.call_id) is dialog:
            del self._outbound[dialog.call_id]
        self._workers[dialog.worker] -= 1
        if self._workers[dialog.worker] <= 0:
            del self._workers[dialog.worker]

    # -- building and sending ------------------------------------------------------------

    def _forward_to(self, request: SipRequest, flow: Flow, via_transport: str) -> None:
        branch = self._derive_branch(request)
        self._strip_our_routes(request)
        self._prepare_forward(request, branch, via_transport)
        if not self._network.send(flow, request.to_bytes()):
            self.stats.dropped += 1

    def _prepare_forward(self, request: SipRequest, branch: str, via_transport: str) -> None:
        max_forwards = request.max_forwards
        request.headers.set("Max-Forwards", str(69 if max_forwards is None else max_forwards - 1))
        request.headers.add_first("Via", self._via(via_transport, branch))

    def _via(self, transport: str, branch: str) -> str:
        return (
            f"SIP/2.0/{transport} {self._settings.via_host}:{self._settings.port};branch={branch}"
        )

    def _record_route(self, transport: str) -> str:
        param = ";transport=tcp" if transport == "tcp" else ""
        return f"<sip:{self._settings.via_host}:{self._settings.port}{param};lr>"

    def _our_route(self, value: str) -> bool:
        try:
            uri = parse_uri(parse_name_addr(value, "Route").uri)
        except SipParseError:
            return False
        return uri.host.lower() in self._names and (uri.port or 5060) == self._settings.port

    def _strip_our_routes(self, request: SipRequest) -> None:
        routes = request.headers.get_all("Route")
        kept = [r for r in routes if not self._our_route(r)]
        if len(kept) != len(routes):
            request.headers.replace_all("Route", kept)

    def _derive_branch(self, request: SipRequest) -> str:
        """Our branch for forwarding ``request``: the same for its retransmissions and, for
        an INVITE, for its CANCEL and its non-2xx ACK (RFC 3261 16.11)."""
        via = request.top_via
        incoming = via.branch or ""
        if incoming.startswith(BRANCH_MAGIC):
            key = f"{incoming}|{via.host}|{via.port}"
        else:  # RFC 2543 peer: no usable branch, derive from the transaction's identity
            key = f"{request.call_id}|{request.cseq.number}|{request.from_tag}|{via}|{request.uri}"
        return BRANCH_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]

    def _ack_for(self, dialog: Dialog, response: SipResponse) -> bytes:
        """The ACK a stateful proxy sends for a non-2xx answer (RFC 3261 17.1.1.3)."""
        invite = dialog.invite
        headers = Headers()
        headers.add("Via", self._via("UDP", dialog.forwarded_branch))
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("From") or "")
        headers.add("To", response.headers.get("To") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{invite.cseq.number} ACK")
        return SipRequest(method="ACK", uri=invite.uri, headers=headers).to_bytes()

    def _send_cancel_to_worker(self, dialog: Dialog) -> None:
        if dialog.worker is None:
            return
        invite = dialog.invite
        headers = Headers()
        headers.add("Via", self._via("UDP", dialog.forwarded_branch))
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("From") or "")
        headers.add("To", invite.headers.get("To") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        headers.add("User-Agent", self._settings.server_name)
        cancel = SipRequest(method="CANCEL", uri=invite.uri, headers=headers)
        self._send_own(Flow("udp", dialog.worker), cancel, dialog.forwarded_branch)

    def _send_bye_to_caller(self, dialog: Dialog, reason: str) -> None:
        """A BYE as the worker would send it: its tag, a CSeq above any it used."""
        invite = dialog.invite
        branch = BRANCH_PREFIX + secrets.token_hex(12)
        headers = Headers()
        headers.add("Via", self._via(dialog.caller.transport.upper(), branch))
        headers.add("Max-Forwards", "70")
        to_worker = invite.headers.get("To") or ""
        if dialog.worker_tag:
            to_worker = f"{to_worker};tag={dialog.worker_tag}"
        headers.add("From", to_worker)
        headers.add("To", invite.headers.get("From") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{dialog.worker_cseq + 1} BYE")
        for route in dialog.caller_route:
            headers.add("Route", route)
        headers.add("Reason", _reason_header(503, reason))
        headers.add("User-Agent", self._settings.server_name)
        bye = SipRequest(method="BYE", uri=dialog.caller_target, headers=headers)
        self._send_own(dialog.caller, bye, branch)

    def _send_own(self, flow: Flow, request: SipRequest, branch: str) -> None:
        data = request.to_bytes()
        self._network.send(flow, data)
        if flow.transport != "udp":
            return
        own = OwnRequest(flow, data, self._settings.t1)
        self._own[branch] = own
        own.timers.set("E", self._clock.callLater(own.interval, self._timer_e, branch))
        own.timers.set("F", self._clock.callLater(64 * self._settings.t1, self._timer_f, branch))

    def _timer_e(self, branch: str) -> None:
        own = self._own.get(branch)
        if own is None:
            return
        self._network.send(own.flow, own.data)
        own.interval = min(own.interval * 2, self._settings.t2)
        own.timers.set("E", self._clock.callLater(own.interval, self._timer_e, branch))

    def _timer_f(self, branch: str) -> None:
        own = self._own.pop(branch, None)
        if own is not None:
            own.timers.cancel_all()

    def _respond_to(
        self,
        request: SipRequest,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
    ) -> SipResponse:
        extra = [("Server", self._settings.server_name), *(headers or [])]
        return response_for(request, status, reason, headers=extra, to_tag=to_tag)

    def _reply(self, flow: Flow, response: SipResponse) -> None:
        """Answer a request straight back on the flow it came on (symmetric response)."""
        if not self._network.send(flow, response.to_bytes()):
            self.stats.dropped += 1

    def _reply_error(
        self,
        flow: Flow,
        request: SipRequest,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.stats.rejects[status] += 1
        self._reply(flow, self._respond_to(request, status, reason, headers, _random_tag()))

    def _tag_for(self, dialog: Dialog) -> str:
        """Our To tag on final answers to this INVITE: stable across retransmissions."""
        return hashlib.sha256(f"{dialog.call_id}|{dialog.invite_branch}".encode()).hexdigest()[:16]

    # -- ending --------------------------------------------------------------------------

    def _complete_invite(
        self, dialog: Dialog, response: SipResponse, ack_to_worker: bytes = b""
    ) -> None:
        """Send the final non-2xx answer of an initial INVITE and forget the dialog."""
        data = response.to_bytes()
        self._network.send(dialog.caller, data)
        self._end_dialog(dialog)
        previous = self._completed.get(dialog.call_id)
        if previous is not None:
            self._forget_completed(previous)
        completed = Completed(
            call_id=dialog.call_id,
            invite_branch=dialog.invite_branch,
            caller=dialog.caller,
            response=data,
            worker=dialog.worker,
            forwarded_branch=dialog.forwarded_branch,
            ack_to_worker=ack_to_worker,
        )
        self._completed[dialog.call_id] = completed
        t1 = self._settings.t1
        if dialog.caller.transport == "udp":
            completed.timers.set("G", self._clock.callLater(t1, self._timer_g, completed, t1))
        completed.timers.set("H", self._clock.callLater(64 * t1, self._forget_completed, completed))

    def _timer_g(self, completed: Completed, interval: float) -> None:
        if completed.acked or self._completed.get(completed.call_id) is not completed:
            return
        self._network.send(completed.caller, completed.response)
        interval = min(interval * 2, self._settings.t2)
        completed.timers.set(
            "G", self._clock.callLater(interval, self._timer_g, completed, interval)
        )

    def _forget_completed(self, completed: Completed) -> None:
        completed.timers.cancel_all()
        if self._completed.get(completed.call_id) is completed:
            del self._completed[completed.call_id]

    def _end_dialog(self, dialog: Dialog) -> None:
        if dialog.ended:
            return
        dialog.ended = True
        dialog.timers.cancel_all()
        if self._dialogs.get(dialog.call_id) is dialog:
            del self._dialogs[dialog.call_id]
        if dialog.worker is not None:
            self._workers[dialog.worker] -= 1
            if self._workers[dialog.worker] <= 0:
                del self._workers[dialog.worker]
        if not dialog.admission_pending:
            self._notify_ended(dialog.call_id)

    def _notify_ended(self, call_id: str) -> None:
        try:
            self._admission.dialog_ended(call_id)
        except Exception:
            self.stats.internal_errors += 1
            log.exception("dialog_ended(%s) failed", call_id)


_T = TypeVar("_T")


def _as_deferred(value: _T | Deferred[_T]) -> Deferred[_T]:
    return value if isinstance(value, Deferred) else succeed(value)


def _location_deferred(
    value: Location | Deferred[Location] | Awaitable[Location],
) -> Deferred[Location]:
    """A locator's answer as a Deferred: a plain value, a Deferred, or an asyncio awaitable
    (the registrar's store is ``redis.asyncio``; the controller runs on the asyncio reactor)."""
    if isinstance(value, Deferred):
        return value
    if inspect.isawaitable(value):
        return Deferred.fromFuture(asyncio.ensure_future(value))
    return succeed(value)


def _random_tag() -> str:
    return secrets.token_hex(8)


def _reason_header(cause: int, text: str) -> str:
    clean = "".join(c for c in text if c.isprintable() and c not in '"\\')[:100]
    return f'SIP;cause={cause};text="{clean}"'
