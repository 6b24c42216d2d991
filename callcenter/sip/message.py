"""SIP messages: parse from bytes, serialize to bytes.

Pure and typed, in the style of aiortc's packet code: no Twisted, no sockets, so that every
corner (compact forms, folding, comma-joined Via lists, broken input) is unit-tested against
captured and deliberately broken messages. Every fault raises :class:`SipParseError` with a
message precise enough to go in a ``400`` reason phrase.

A UDP datagram is one message (:func:`parse_message`); a TCP stream is cut into messages by
:class:`StreamFramer` using Content-Length.

-*- test-case-name: tests.unit.sip.test_message -*-
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from callcenter.sip.fields import (
    CSeq,
    NameAddr,
    SipParseError,
    SipUri,
    Via,
    parse_cseq,
    parse_max_forwards,
    parse_name_addr,
    parse_uri,
    parse_via,
    split_header_list,
)

__all__ = [
    "CSeq",
    "Headers",
    "MessageHead",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "parse_cseq",
    "parse_max_forwards",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "response_for",
    "split_header_list",
]

DEFAULT_MAX_SIZE = 65535

COMPACT_FORMS = {
    "i": "Call-ID",
    "f": "From",
    "t": "To",
    "v": "Via",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
}

_CANONICAL = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "RAck",
        "RSeq",
        "MIME-Version",
        "Alert-Info",
        "Call-Info",
        "Error-Info",
        "Max-Forwards",
        "Record-Route",
        "Retry-After",
        "Content-Length",
        "Content-Type",
        "User-Agent",
    )
}

# Header fields whose comma-joined values are split into one entry each, so the proxy can
# push and pop single Via/Route entries (RFC 3261 7.3.1).
_LIST_HEADERS = frozenset({"via", "route", "record-route"})

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def canonical_name(name: str) -> str:
    """``v`` → ``Via``, ``call-id`` → ``Call-ID``, ``x-foo`` → ``X-Foo``."""
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    if lower in _CANONICAL:
        return _CANONICAL[lower]
    return "-".join(part.capitalize() for part in lower.split("-"))


class Headers:
    """Ordered (name, value) pairs with case-insensitive access; names are canonical."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def copy(self) -> Headers:
        return Headers(self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name)
        for n, v in self._items:
            if n == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        key = canonical_name(name)
        return [v for n, v in self._items if n == key]

    def add(self, name: str, value: str) -> None:
        """Append after any existing field of that name (or at the end)."""
        key = canonical_name(name)
        last = max((i for i, (n, _) in enumerate(self._items) if n == key), default=None)
        if last is None:
            self._items.append((key, value))
        else:
            self._items.insert(last + 1, (key, value))

    def add_first(self, name: str, value: str) -> None:
        """Insert before any existing field of that name (a proxy pushing Via/Record-Route)."""
        key = canonical_name(name)
        first = next((i for i, (n, _) in enumerate(self._items) if n == key), None)
        self._items.insert(len(self._items) if first is None else first, (key, value))

    def set(self, name: str, value: str) -> None:
        """Replace all fields of that name with one (in place of the first)."""
        key = canonical_name(name)
        first = next((i for i, (n, _) in enumerate(self._items) if n == key), None)
        self._items = [(n, v) for n, v in self._items if n != key]
        self._items.insert(len(self._items) if first is None else first, (key, value))

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [(n, v) for n, v in self._items if n != key]

    def pop_first(self, name: str) -> str | None:
        key = canonical_name(name)
        for i, (n, v) in enumerate(self._items):
            if n == key:
                del self._items[i]
                return v
        return None

    def replace_all(self, name: str, values: list[str]) -> None:
        """Replace the fields of that name, keeping their position."""
        key = canonical_name(name)
        first = next((i for i, (n, _) in enumerate(self._items) if n == key), None)
        self._items = [(n, v) for n, v in self._items if n != key]
        at = len(self._items) if first is None else first
        self._items[at:at] = [(key, v) for v in values]


@dataclass
class _Common:
    headers: Headers
    body: bytes

    # Typed accessors. The mandatory ones were validated by parse_message, so they do not
    # fail on a parsed message; on a hand-built one they raise SipParseError.
    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("CSeq"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return parse_via(self._required("Via"))

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._required("From"), "From")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self._required("To"), "To")

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    def _serialize(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{n}: {v}" for n, v in self.headers if n != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(_Common):
    method: str = "OPTIONS"
    uri: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else parse_max_forwards(value)

    def to_bytes(self) -> bytes:
        return self._serialize(f"{self.method} {self.uri} SIP/2.0")


@dataclass
class SipResponse(_Common):
    status: int = 200
    reason: str = "OK"
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def to_bytes(self) -> bytes:
        return self._serialize(f"SIP/2.0 {self.status} {self.reason}")


SipMessage = SipRequest | SipResponse


@dataclass
class MessageHead:
    """The start line and headers, as far as they parsed (carried by :class:`SipParseError`)."""

    start_line: str
    headers: Headers

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/")

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0] if self.is_request else ""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header section is not UTF-8 (byte {exc.start})") from None


def _split_head(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Start line and unfolded (name, value) list; values of list headers split."""
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    start = lines[0].strip()
    if not start:
        raise SipParseError("empty start line")
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise SipParseError("continuation line before first header")
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    items: list[tuple[str, str]] = []
    for line in unfolded:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or not all(c in _TOKEN_CHARS for c in name):
            raise SipParseError(f"malformed header line {line[:40]!r}")
        name = canonical_name(name)
        value = value.strip()
        if name.lower() in _LIST_HEADERS:
            try:
                parts = split_header_list(value)
            except SipParseError as exc:
                raise SipParseError(f"{name}: {exc.reason}") from None
            items.extend((name, part) for part in parts)
        else:
            items.append((name, value))
    return start, items


def _parse_start(start: str, head: MessageHead) -> tuple[str, str, int, str]:
    """(method, uri, 0, "") for requests, ("", "", status, reason) for responses."""
    if start.startswith("SIP/"):
        version, _, rest = start.partition(" ")
        if version != "SIP/2.0":
            raise SipParseError(f"unsupported SIP version {version[:20]!r}", head)
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError(f"bad status code {code[:20]!r}", head)
        return "", "", int(code), reason.strip()
    parts = start.split(" ")
    if len(parts) != 3:
        raise SipParseError("bad request line: expected 'METHOD URI SIP/2.0'", head)
    method, uri, version = parts
    if not method or not all(c in _TOKEN_CHARS for c in method):
        raise SipParseError(f"bad method {method[:20]!r}", head)
    if version != "SIP/2.0":
        raise SipParseError(f"unsupported SIP version {version[:20]!r}", head)
    if ":" not in uri:
        raise SipParseError(f"bad Request-URI {uri[:60]!r}", head)
    return method, uri, 0, ""


def _validate(message: SipMessage, head: MessageHead) -> None:
    headers = message.headers
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if headers.get(name) is None:
            raise SipParseError(f"missing {name} header", head)
    try:
        cseq = message.cseq
        for via in message.vias:
            del via
        message.from_.uri.lower()
        message.to.uri.lower()
        if isinstance(message, SipRequest):
            parse_uri(message.uri)
            if cseq.method != message.method:
                raise SipParseError(
                    f"CSeq method {cseq.method[:20]!r} does not match {message.method!r}"
                )
            _ = message.max_forwards
    except SipParseError as exc:
        raise SipParseError(exc.reason, head) from None
    if not message.call_id.strip():
        raise SipParseError("empty Call-ID", head)
    if len(headers.get_all("Call-ID")) > 1 or len(headers.get_all("CSeq")) > 1:
        raise SipParseError("duplicate Call-ID or CSeq header", head)


def _content_length(headers: Headers, head: MessageHead) -> int | None:
    values = headers.get_all("Content-Length")
    if not values:
        return None
    if len(set(values)) > 1:
        raise SipParseError("conflicting Content-Length headers", head)
    text = values[0].strip()
    if not text.isdigit() or len(text) > 9:
        raise SipParseError(f"bad Content-Length {text[:20]!r}", head)
    return int(text)


def parse_message(data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> SipMessage:
    """Parse one whole message (a UDP datagram, or one framed by :class:`StreamFramer`).

    A Content-Length larger than the body is an error (truncated datagram); a smaller one
    cuts the body (RFC 3261 18.3). Without Content-Length the rest is the body.
    """
    if len(data) > max_size:
        raise SipParseError(f"message too large ({len(data)} > {max_size} bytes)")
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    end = data.find(b"\r\n\r\n")
    sep_len = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep_len = 2
    if end < 0:
        raise SipParseError("truncated message: no blank line after headers")
    start, items = _split_head(_decode(data[:end]))
    headers = Headers(items)
    head = MessageHead(start, headers)
    method, uri, status, reason = _parse_start(start, head)
    body = data[end + sep_len :]
    length = _content_length(headers, head)
    if length is not None:
        if length > len(body):
            raise SipParseError(
                f"truncated body: Content-Length {length} but {len(body)} bytes", head
            )
        body = body[:length]
    message: SipMessage
    if status:
        message = SipResponse(status=status, reason=reason, headers=headers, body=body)
    else:
        message = SipRequest(method=method, uri=uri, headers=headers, body=body)
    _validate(message, head)
    return message


class StreamFramer:
    """Cut a TCP byte stream into whole messages using Content-Length (RFC 3261 18.3).

    ``feed()`` returns the complete messages so far as raw bytes (parse each with
    :func:`parse_message`). Keep-alive CRLFs between messages are skipped and reported via
    ``pings`` (RFC 5626 double-CRLF, answered with a single CRLF). A stream that cannot be
    framed any more (no or bad Content-Length, oversized) raises :class:`SipParseError`; the
    connection should then be closed.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._buffer = b""
        self._max_size = max_size
        self.pings = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            if len(self._buffer) - len(stripped) >= 4 and b"\r\n\r\n" in self._buffer[:4]:
                self.pings += 1
            self._buffer = stripped
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self._max_size:
                    raise SipParseError(f"header section larger than {self._max_size} bytes")
                return messages
            try:
                _, items = _split_head(_decode(self._buffer[:end]))
            except SipParseError as exc:
                raise SipParseError(f"unframeable stream: {exc.reason}") from None
            length = _content_length(Headers(items), MessageHead("", Headers()))
            if length is None:
                raise SipParseError("missing Content-Length on a stream transport")
            total = end + 4 + length
            if total > self._max_size:
                raise SipParseError(f"message too large ({total} > {self._max_size} bytes)")
            if len(self._buffer) < total:
                return messages
            messages.append(self._buffer[:total])
            self._buffer = self._buffer[total:]


_REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    487: "Request Terminated",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    513: "Message Too Large",
}


def default_reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def safe_reason(text: str) -> str:
    """A reason phrase safe to put on the wire: one printable line, bounded length."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned[:120] or "Error"


def response_for(
    request: SipRequest | MessageHead,
    status: int,
    reason: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    to_tag: str | None = None,
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` per RFC 3261 8.2.6: Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To when it has none (needed on every final response from a UAS).
    Works on a :class:`MessageHead` from a parse error too (to answer ``400``).
    """
    src = request.headers
    out = Headers()
    for via in src.get_all("Via"):
        out.add("Via", via)
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = src.get(name)
        if value is not None:
            if name == "To" and to_tag and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            out.add(name, value)
    for name, value in headers:
        out.add(name, value)
    return SipResponse(
        status=status,
        reason=safe_reason(reason or default_reason(status)),
        headers=out,
        body=body,
    )
