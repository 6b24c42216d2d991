"""Blind transfer (SIP REFER) of a worker's call: where it goes and how it ended.

Pure (no pjsua2): the worker feeds it what pjsua2 reports (the REFER's final response, the
transferee's NOTIFY progress, the end of the call) and sends the event it returns. Keeping the
decisions here lets them be unit-tested without a SIP peer, and keeps pjsua2's reporting quirks
in one place: pjsua2 announces an accepted REFER as a synthetic ``100 Accepted`` status and,
depending on the version, may or may not report a rejected REFER through
``onCallTransferStatus``, so the REFER's own transaction is watched as well and whichever
report comes first decides.

Target rule: a target that starts with ``sip:`` or ``sips:`` is used as it is; a bare number or
name (``1001``, ``sales``, ``+442079460000``) becomes ``sip:<target>@<host[:port]>`` where
``host[:port]`` is taken from the Request-URI of the caller's INVITE (the To URI if that cannot
be read), i.e. the address the caller's call reached: the SIP front, whose forwarding keeps the
Request-URI. The caller's phone therefore calls the front again, which routes the number like
any other inbound call. The Request-URI rather than the To header, because a carrier's To often
names its own domain while the Request-URI is what actually reached us.

-*- test-case-name: tests.unit.media.test_protocol_transfer -*-
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.media import protocol

_URI_IN_NAME_ADDR = re.compile(r"<([^>]*)>")


def refer_uri(target: str, dialled: str) -> str:
    """The Refer-To URI for ``target`` on a call whose INVITE was addressed to ``dialled``.

    ``target`` has passed :func:`callcenter.media.protocol.target_problem`. Raises
    ``ValueError`` when a bare target needs a host and ``dialled`` has none.
    """
    if protocol.is_sip_uri(target):
        return target
    return f"sip:{target}@{dialled_hostport(dialled)}"


def request_uri(invite: str) -> str:
    """The Request-URI of a raw INVITE (``""`` if its first line is not a request line)."""
    parts = invite.split("\n", 1)[0].split()
    return parts[1] if len(parts) == 3 and parts[2].upper() == "SIP/2.0" else ""


def dialled_hostport(to_uri: str) -> str:
    """``host[:port]`` of a URI, bare or in a header value such as
    ``"IVR" <sip:100@203.0.113.5:5060;x=y>``."""
    match = _URI_IN_NAME_ADDR.search(to_uri)
    uri = (match.group(1) if match else to_uri).strip()
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips"):
        raise ValueError(f"not a SIP URI: {to_uri!r}")
    rest = re.split(r"[;?]", rest, maxsplit=1)[0]
    hostport = rest.rpartition("@")[2]
    if not hostport:
        raise ValueError(f"no host in {to_uri!r}")
    return hostport


@dataclass
class TransferProgress:
    """One REFER in flight on one call. Each ``on_*`` returns the event to send, if any.

    ``status`` is the most telling code seen so far: a NOTIFY sipfrag code above 100, else the
    REFER's 2xx response. The transfer is decided once: later reports are ignored.
    """

    call: str
    uri: str
    accepted: bool = False
    status: int | None = None
    decided: bool = False

    def on_refer_response(self, code: int, reason: str) -> protocol.TransferFailed | None:
        """The REFER transaction ended with ``code`` (408 if the caller never answered it)."""
        if self.decided or code < 200:
            return None
        if code >= 300:
            return self._fail(code, reason)
        self.accepted = True
        if self.status is None or self.status <= 100:
            self.status = code
        return None

    def on_status(
        self, code: int, reason: str, final: bool
    ) -> protocol.Transferred | protocol.TransferFailed | None:
        """pjsua2's ``onCallTransferStatus``: REFER accepted, or the transferee's NOTIFY."""
        if self.decided:
            return None
        if code >= 300:
            return self._fail(code, reason)
        self.accepted = True
        if code > 100 or self.status is None:
            self.status = code
        if final or code >= 200:
            return self._succeed()
        return None

    def on_call_ended(self) -> protocol.Transferred | None:
        """The call with us ended: after an accepted REFER, the caller has moved on."""
        if self.decided or not self.accepted:
            return None
        return self._succeed()

    def _succeed(self) -> protocol.Transferred:
        self.decided = True
        return protocol.Transferred(call=self.call, target=self.uri, status=self.status or 200)

    def _fail(self, code: int, reason: str) -> protocol.TransferFailed:
        self.decided = True
        return protocol.TransferFailed(call=self.call, target=self.uri, code=code, reason=reason)
