"""Typed views of the SIP header values the front reads and rewrites.

Kept apart from message framing so the proxy logic can ask "what is the branch" or "who is
this" without string surgery at every call site. Pure code: no Twisted, no I/O.
Every parser here raises :class:`SipParseError` with a message naming the header.

-*- test-case-name: tests.unit.sip.test_fields -*-
"""

from __future__ import annotations

from dataclasses import dataclass, field

BRANCH_MAGIC = "z9hG4bK"
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443, "sctp": 5060}


class SipParseError(ValueError):
    """Input is not a SIP message we can use. ``str(error)`` says precisely what is wrong.

    ``head`` holds what could be parsed before the fault (the start line and headers), so a
    server can still answer ``400`` when the fault is in a header value or in the body.
    """

    def __init__(self, reason: str, head: object | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.head = head


def _split_params(text: str) -> dict[str, str | None]:
    """``;a=1;b`` → ``{"a": "1", "b": None}`` (names lower-cased, quotes kept)."""
    params: dict[str, str | None] = {}
    for part in _split_outside_quotes(text, ";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        params[name.strip().lower()] = value.strip() if sep else None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    start = 0
    for i, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quoted:
        raise SipParseError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value (Via, Route...) ignoring commas in quotes/<>."""
    return [p.strip() for p in _split_outside_quotes(value, ",") if p.strip()]


def _parse_hostport(text: str, what: str) -> tuple[str, int | None]:
    text = text.strip()
    if not text:
        raise SipParseError(f"{what}: empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{what}: unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        bare = host[1:-1]
        allowed = _HEX_COLON
    else:
        host, sep, port_text = text.partition(":")
        rest = ":" + port_text if sep else ""
        bare = host
        allowed = _HOST_CHARS
    if not bare or not all(c in allowed for c in bare):
        raise SipParseError(f"{what}: bad host {host[:60]!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        raise SipParseError(f"{what}: bad port {rest[1:][:20]!r}")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise SipParseError(f"{what}: port {port} out of range")
    return host, port


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:.")


@dataclass
class Via:
    """One Via entry: ``SIP/2.0/UDP host:port;branch=...;rport;received=...``."""

    transport: str  # upper case as on the wire: "UDP", "TCP"
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        return "rport" in self.params

    def response_address(self) -> tuple[str, int]:
        """Where a response to this hop goes (RFC 3261 18.2.2 with RFC 3581 ``rport``)."""
        host = self.received or self.host
        port = self.rport or self.port or DEFAULT_PORTS.get(self.transport.lower(), 5060)
        return host.strip("[]"), port

    def __str__(self) -> str:
        sent_by = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {sent_by}{_format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse a single Via entry (split the header with :func:`split_header_list` first)."""
    proto, _, rest = value.strip().partition(" ")
    parts = [p.strip() for p in proto.split("/")]
    if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0" or not parts[2]:
        raise SipParseError(f"Via: bad protocol {proto!r}")
    rest = rest.strip()
    sent_by, _, params_text = rest.partition(";")
    host, port = _parse_hostport(sent_by, "Via")
    return Via(parts[2].upper(), host, port, _split_params(params_text))


@dataclass
class SipUri:
    """``sip:user@host:port;params?headers`` (also ``sips:`` and ``tel:``)."""

    scheme: str
    user: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{_format_params(self.params)}"
        userinfo = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{_format_params(self.params)}{hdrs}"


def parse_uri(text: str) -> SipUri:
    """Parse a SIP, SIPS or tel URI."""
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or not rest:
        raise SipParseError(f"bad URI {text[:60]!r}")
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri("tel", number, "", None, _split_params(params))
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"unsupported URI scheme {scheme[:20]!r}")
    rest, _, headers = rest.partition("?")
    user = ""
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user = userinfo.partition(":")[0]  # drop any password
    hostport, _, params = rest.partition(";")
    host, port = _parse_hostport(hostport, "URI")
    return SipUri(scheme, user, host, port, _split_params(params), headers)


@dataclass
class NameAddr:
    """``"Name" <uri>;params`` as in From, To, Contact, Route and Record-Route."""

    display_name: str
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        name = f"{self.display_name} " if self.display_name else ""
        return f"{name}<{self.uri}>{_format_params(self.params)}"


def parse_name_addr(value: str, what: str = "address") -> NameAddr:
    value = value.strip()
    if not value:
        raise SipParseError(f"{what}: empty value")
    lt = _find_unquoted(value, "<")
    if lt >= 0:
        gt = value.find(">", lt)
        if gt < 0:
            raise SipParseError(f"{what}: missing '>'")
        display = value[:lt].strip()
        uri = value[lt + 1 : gt].strip()
        params = _split_params(value[gt + 1 :])
    else:
        # addr-spec form: header parameters follow the URI (RFC 3261 20.10).
        uri, _, params_text = value.partition(";")
        display = ""
        uri = uri.strip()
        params = _split_params(params_text)
    if not uri or ":" not in uri:
        raise SipParseError(f"{what}: bad URI {uri[:60]!r}")
    return NameAddr(display, uri, params)


def _find_unquoted(text: str, ch: str) -> int:
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            return i
    return -1


def display_name_text(display: str) -> str:
    """A display name without its quotes and escapes."""
    display = display.strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return display


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit():
        raise SipParseError(f"CSeq: expected 'number METHOD', got {value[:40]!r}")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError("CSeq: number too large")
    return CSeq(number, parts[1])


def parse_max_forwards(value: str) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > 3 or int(value) > 255:
        raise SipParseError(f"Max-Forwards: expected 0-255, got {value[:20]!r}")
    return int(value)
