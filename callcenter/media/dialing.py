"""Agent legs placed by a worker (the ``dial`` command): the pure parts.

What the agent's phone shows comes from the INVITE's From header: the caller's number as its
user part (so "call back" and call history work) and the controller's ``display`` (e.g.
``Billing: +442079460000``) as its display name. The From host is the host of the dialled URI,
i.e. the SIP front, so a call-back from the phone's history reaches the service again.

How an unanswered leg ended is reported as one final code, whatever pjsua2 saw: a ring timeout
is 408 and a withdrawal 487 even though pjsua2 reports the 487 of our own CANCEL for both.

-*- test-case-name: tests.unit.media.test_dialing -*-
"""

from __future__ import annotations

from callcenter.media.transfer import dialled_hostport

TIMEOUT = (408, "Request Timeout")
WITHDRAWN = (487, "Request Terminated")
NOT_PLACED = 500


def quoted(text: str) -> str:
    """``text`` as a SIP quoted-string (RFC 3261 25.1: ``"`` and ``\\`` are escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def from_header(caller_id: str, display: str, dialled: str) -> str:
    """The From value of an agent leg: ``"display" <sip:caller_id@front-host>``.

    ``caller_id`` and ``display`` were validated by the protocol (no characters that could
    break out of the URI or the quoted string); ``dialled`` is the agent's URI.
    """
    uri = f"sip:{caller_id}@{dialled_hostport(dialled)}"
    return f"{quoted(display)} <{uri}>" if display else f"<{uri}>"


def failure(status: int, reason: str, forced: tuple[int, str] | None) -> tuple[int, str]:
    """The ``leg_failed`` code and reason of a leg that ended unanswered.

    ``forced`` is our own reason for ending it (timeout, withdrawal); otherwise pjsua2's last
    status, or 500 when pjsua2 has no final error status (e.g. a local transport failure).
    """
    if forced is not None:
        return forced
    if 300 <= status <= 699:
        return status, reason
    return NOT_PLACED, reason or "Call Not Placed"
