"""A Server-Sent Events client for tests: reads a stream in a thread, events into a queue."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    kind: str
    data: Any
    size: int
    at: float  # time.time() when it arrived


class EventStream:
    """``GET path`` on 127.0.0.1:port; ``status`` is the response code, events in ``next()``."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._connection.request("GET", path, headers=headers or {})
        self._socket = self._connection.sock
        self._response = self._connection.getresponse()
        self.status = self._response.status
        self.headers = dict(self._response.getheaders())
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        if self.status == 200:
            self._thread.start()

    def body(self) -> Any:
        return json.loads(self._response.read())

    def _read(self) -> None:
        kind, data = "message", list[str]()
        try:
            while True:
                line = self._response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\n")
                if text == "":
                    if data:
                        raw = "\n".join(data)
                        self._events.put(Event(kind, json.loads(raw), len(raw), time.time()))
                    kind, data = "message", list[str]()
                elif text.startswith("event: "):
                    kind = text[len("event: ") :]
                elif text.startswith("data: "):
                    data.append(text[len("data: ") :])
        except (OSError, ValueError, AttributeError, http.client.HTTPException):  # closed
            pass
        self._events.put(None)

    def next(self, kind: str | None = None, timeout: float = 10.0) -> Event:
        """The next event (of ``kind``, skipping others); AssertionError when none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(f"no {kind or 'event'} within {timeout} s") from None
            if event is None:
                raise AssertionError("the stream ended")
            if kind is None or event.kind == kind:
                return event
            if left <= 0:
                raise AssertionError(f"no {kind} within {timeout} s")

    def close(self) -> None:
        """Hang up (also unblocks the reading thread)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._connection.close()
