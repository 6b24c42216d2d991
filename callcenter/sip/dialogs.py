"""What the front remembers per call: the dialog record and the short-lived tombstone.

The front is dialog-stateful (keyed by Call-ID) so it can route in-dialog requests, answer
retransmissions, and end a dialog on its own when a worker dies. It is not a full B2BUA:
it keeps just enough to do that.

-*- test-case-name: tests.unit.sip.test_proxy -*-
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from callcenter.sip.clock import Cancellable
from callcenter.sip.message import SipRequest
from callcenter.sip.transport import Address, Flow


class DialogState(enum.Enum):
    ADMITTING = "admitting"  # 100 sent, waiting for the application's decision
    PROCEEDING = "proceeding"  # INVITE forwarded to a worker, no 2xx yet
    ANSWERED = "answered"  # the worker's 2xx seen, caller's ACK not yet
    CONFIRMED = "confirmed"  # ACK forwarded
    TERMINATING = "terminating"  # a BYE is under way


class Timers:
    """Named delayed calls, all cancellable at once when the state goes away."""

    def __init__(self) -> None:
        self._calls: dict[str, Cancellable] = {}

    def set(self, name: str, call: Cancellable) -> None:
        self.cancel(name)
        self._calls[name] = call

    def cancel(self, name: str) -> None:
        call = self._calls.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def cancel_all(self) -> None:
        for name in list(self._calls):
            self.cancel(name)


@dataclass
class Dialog:
    call_id: str
    caller: Flow
    invite: SipRequest  # the initial INVITE as received (Via stamped with received/rport)
    invite_branch: str  # the caller's branch: retransmissions and CANCEL carry it
    caller_target: str  # the caller's Contact URI: Request-URI of requests toward it
    caller_route: list[str]  # upstream Record-Route entries, for requests toward the caller
    state: DialogState = DialogState.ADMITTING
    worker: Address | None = None
    forwarded_invite: bytes = b""
    forwarded_branch: str = ""
    worker_responded: bool = False
    last_provisional: bytes = b""  # replayed to caller INVITE retransmissions
    worker_tag: str | None = None
    worker_cseq: int = 0  # highest CSeq of the worker's requests: our BYE goes above
    cancelled: bool = False
    admission_pending: bool = True
    ended: bool = False
    timers: Timers = field(default_factory=Timers)


@dataclass
class Completed:
    """An initial INVITE that got its final non-2xx answer: kept 64*T1 (Timers G/H/D).

    Lets the front replay its final response to INVITE retransmissions, absorb the caller's
    ACK, and re-ACK the worker's retransmitted final response.
    """

    call_id: str
    invite_branch: str
    caller: Flow
    response: bytes
    worker: Address | None = None
    forwarded_branch: str = ""
    ack_to_worker: bytes = b""
    acked: bool = False
    timers: Timers = field(default_factory=Timers)


@dataclass
class OwnRequest:
    """A request the front itself sent (BYE on abort), retransmitted over UDP until answered."""

    flow: Flow
    data: bytes
    interval: float
    timers: Timers = field(default_factory=Timers)


class OutboundState(enum.Enum):
    LOCATING = "locating"  # 100 sent to the worker, asking the locator for the agent's contact
    PROCEEDING = "proceeding"  # INVITE forwarded to the agent, no final answer yet
    ANSWERED = "answered"  # the agent's 2xx relayed, the worker's ACK not yet
    CONFIRMED = "confirmed"  # ACK forwarded
    TERMINATING = "terminating"  # a BYE is under way
    COMPLETED = "completed"  # final non-2xx sent to the worker: a tombstone for 64*T1


@dataclass
class OutboundDialog:
    """A worker's own call to an agent (an agent leg): the worker is the UAC, the agent's
    phone the UAS. Kept apart from :class:`Dialog` (caller -> worker) so neither direction's
    rules leak into the other; after a final error it stays as its own tombstone.
    """

    call_id: str
    worker: Address
    invite: SipRequest  # the worker's INVITE as received (Via stamped)
    invite_branch: str  # the worker's branch: its retransmissions and CANCEL carry it
    state: OutboundState = OutboundState.LOCATING
    agent: Flow | None = None  # the located contact's flow
    forwarded: SipRequest | None = None  # the INVITE as sent to the agent
    forwarded_bytes: bytes = b""
    forwarded_branch: str = ""
    agent_responded: bool = False
    last_provisional: bytes = b""  # replayed to the worker's INVITE retransmissions
    final: bytes = b""  # COMPLETED: the final answer replayed until the worker ACKs it
    ack_to_agent: bytes = b""  # our ACK of the agent's final error, replayed if it repeats
    acked: bool = False
    cancelled: bool = False
    ended: bool = False
    timers: Timers = field(default_factory=Timers)
