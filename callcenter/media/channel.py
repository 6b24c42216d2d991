"""The worker's side of the command/event pipes, and the doorbell that wakes pjsua2.

The main thread spends its life blocked inside ``ep.libHandleEvents(200)`` (GIL released), which
is what keeps an idle worker at ~0.5 % of a core. A reader thread turns command lines into items
on a queue and then rings the doorbell: a SIP CRLF keep-alive (``b"\\r\\n\\r\\n"``) sent to the
worker's own SIP UDP port, which pjsip swallows silently but which makes ``libHandleEvents``
return at once. Commands therefore take effect within microseconds, not 200 ms.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable

from callcenter.media import protocol

log = logging.getLogger(__name__)

KEEPALIVE = b"\r\n\r\n"

# What the main loop drains: decoded commands, undecodable lines, and jobs posted by callbacks
# that ran off the main thread (they must not touch pjsua2 there).
Item = protocol.Command | protocol.ProtocolError | Callable[[], None]


class Doorbell:
    """Wakes ``libHandleEvents`` by sending a CRLF keep-alive to our own SIP port."""

    def __init__(self, sip_port: int, host: str = "127.0.0.1") -> None:
        self._address = (host, sip_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._lock = threading.Lock()

    def ring(self) -> None:
        with self._lock:
            try:
                self._sock.sendto(KEEPALIVE, self._address)
            except OSError as exc:  # the worst case is a 200 ms delay
                log.warning("doorbell failed: %s", exc)

    def close(self) -> None:
        self._sock.close()


class Inbox:
    """A thread-safe queue whose ``post`` also wakes the main loop."""

    def __init__(self, doorbell: Doorbell) -> None:
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._doorbell = doorbell

    def post(self, item: Item, wake: bool = True) -> None:
        self._queue.put(item)
        if wake:
            self._doorbell.ring()

    def drain(self) -> list[Item]:
        items: list[Item] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items


def start_reader(fd: int, inbox: Inbox) -> threading.Thread:
    """Read command lines from ``fd`` in a daemon thread. EOF means the controller is gone:
    post a shutdown so the worker hangs up its calls and exits instead of lingering."""

    def run() -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError as exc:
                log.error("command pipe read failed: %s", exc)
                chunk = b""
            if not chunk:
                inbox.post(protocol.Shutdown())
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    inbox.post(protocol.decode_command(line), wake=False)
                except protocol.ProtocolError as exc:
                    inbox.post(exc, wake=False)
            inbox.post(lambda: None)  # one ring per chunk is enough

    thread = threading.Thread(target=run, name="command-reader", daemon=True)
    thread.start()
    return thread


class EventWriter:
    """Writes event lines to ``fd`` from any thread, one whole line at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def send(self, event: protocol.Event) -> None:
        data = protocol.encode(event)
        with self._lock:
            if self.broken:
                return
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self._fd, view) :]
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    log.error("event pipe write failed: %s", exc)
                    self.broken = True
                    return
