"""The seam between the SIP front and the application.

The front knows SIP; the application knows numbers, capacity and call records. For every new
inbound INVITE the front asks the application whether and where to route it; the application
answers with a media worker's SIP address or a rejection. The front tells the application when a
dialog's state is gone, and the application can ask the front to end a dialog (worker crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet.defer import Deferred

Address = tuple[str, int]


@dataclass(frozen=True)
class InboundCall:
    """What the front learnt from a new INVITE."""

    call_id: str
    caller: str  # user part of the From URI (the caller's number), "" if absent
    caller_uri: str  # the whole From URI
    caller_name: str  # From display name, "" if absent
    did: str  # user part of the Request-URI: the number dialled
    source: Address  # where the INVITE came from (host, port)
    transport: str  # "udp" or "tcp"
    # Optional, for services that authenticate the INVITE (agents' feature codes). Defaults
    # keep older constructions (tests, other fronts) valid.
    request_uri: str = ""  # the Request-URI as sent (digest ``uri`` must match it)
    cseq: int = 0  # CSeq number (with call_id: the request's identity for nonce-count replay)
    authorization: tuple[str, ...] = ()  # Proxy-Authorization values, then Authorization ones
    user_agent: str = ""  # User-Agent header ("" if absent)


@dataclass(frozen=True)
class RouteTo:
    """Forward the INVITE (and the dialog) to this media worker."""

    worker: Address


@dataclass(frozen=True)
class Reject:
    """Answer the INVITE with a final error response."""

    code: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "5"}


Admission = RouteTo | Reject


class CallAdmission(Protocol):
    def admit(self, call: InboundCall) -> Admission | Deferred[Admission]:
        """Decide where a new inbound call goes. May answer later (a worker is starting)."""

    def dialog_ended(self, call_id: str) -> None:
        """The front dropped all state of this dialog (BYE done, CANCEL, final error, abort)."""
