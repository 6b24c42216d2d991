"""Audio taps: a conference-bridge port whose audio travels to another media worker and back.

A supervisor's call can land on any worker, while the conversation it monitors sits on the
worker that holds caller and agent (usually full: 4 calls). So a monitor session is two tap
ends, one in each worker, sending each other 20 ms frames of 8 kHz 16-bit mono
PCM over loopback UDP. In each worker the tap is an ordinary bridge port: what the bridge
mixes for it (the calls in ``listen_to``) goes to the peer, and what the peer sends is played
to the calls in ``talk_to``. The same path serves a supervisor on the conversation's own
worker (the datagrams then go to itself), so there is one mechanism, not two.

Threads: pjsua2 calls ``onFrameReceived``/``onFrameRequested`` on its media clock thread; a
reader thread receives datagrams. Both only touch the port's frame queue (a ``deque``, whose
appends and pops are atomic) and counters; every pjsua2 call (create, connect, destroy) stays
on the worker's main thread.

The datagram format and the playout queue are in :mod:`callcenter.media.tap_audio`.
The two ends have distinct ids (a session's ``<id>-c`` and ``<id>-s``), so both may sit in
one worker.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pjsua2 as pj

from callcenter.media.tap_audio import (
    BITS_PER_SAMPLE,
    CLOCK_RATE,
    FRAME_USEC,
    PlayoutQueue,
    datagram_header,
    parse_datagram,
)

log = logging.getLogger(__name__)

MAX_DATAGRAM = 2048


_VECTOR_BOUNDS = ctypes.c_size_t * 2  # libstdc++ std::vector: begin, end (then capacity)


def _vector_bytes_fast(vector: pj.ByteVector) -> bytes:
    """The bytes of a SWIG ``ByteVector`` read straight from the C++ vector: ~2 µs for a frame
    where ``bytes(vector)`` (element by element through SWIG) takes ~270 µs, which would be
    most of a tap's CPU cost."""
    begin, end = _VECTOR_BOUNDS.from_address(int(vector.this))
    return ctypes.string_at(begin, end - begin)


def _vector_reader() -> Callable[[pj.ByteVector], bytes]:
    """The fast reader if it reads a probe right (the vector layout is the one we expect),
    else the slow, safe ``bytes``."""
    probe = bytes(range(1, 200))
    try:
        if _vector_bytes_fast(pj.ByteVector(probe)) == probe:
            return _vector_bytes_fast
    except (TypeError, ValueError, OSError):
        pass
    log.warning("unexpected pjsua2 ByteVector layout: audio taps use the slow copy")
    return bytes


vector_bytes = _vector_reader()


@dataclass(frozen=True)
class TapCounters:
    sent: int
    received: int
    underruns: int
    dropped: int


class TapPort(pj.AudioMediaPort):  # type: ignore[misc]
    """One end of a tap: a bridge port that sends what it hears and plays what it receives.

    Ports are reused, never destroyed while the worker runs: the bridge calls them on its
    clock thread even when unconnected, and a Python port whose last reference went on that
    thread would be destroyed there. :class:`TapHub` hands out idle ports instead.
    """

    def __init__(self, number: int, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._header = b""
        self._peer: tuple[str, int] | None = None
        self._queue = PlayoutQueue()
        self.tap_id = ""
        self.sent = 0
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, CLOCK_RATE, 1, FRAME_USEC, BITS_PER_SAMPLE)
        self.createPort(f"tap{number}", fmt)

    def attach(self, tap_id: str, peer: tuple[str, int], peer_tap: str) -> None:
        self.sent = 0
        self._queue.reset()
        self.tap_id = tap_id
        self._header = datagram_header(peer_tap)
        self._peer = peer

    def detach(self) -> None:
        self._peer = None
        self.tap_id = ""
        self._queue.reset()

    # Media clock thread: the bridge's mix of what is connected to us.
    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 API)
        peer = self._peer
        if peer is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        with contextlib.suppress(OSError):  # a full socket buffer loses one frame, no more
            self._sock.sendto(self._header + vector_bytes(frame.buf), peer)
            self.sent += 1

    # Media clock thread: our contribution to the bridge.
    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        data = self._queue.pop()
        if data is None:
            frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
            frame.size = 0
            return
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = len(data)

    # Reader thread.
    def feed(self, pcm: bytes) -> None:
        if self._peer is not None:
            self._queue.push(pcm)

    def counters(self) -> TapCounters:
        q = self._queue
        return TapCounters(self.sent, q.received, q.underruns, q.dropped)


class TapHub:
    """The worker's tap socket (loopback UDP, any free port) and its tap ports."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.5)  # the reader notices ``close`` within this
        self.port: int = self._sock.getsockname()[1]
        self._open: dict[str, TapPort] = {}
        self._idle: list[TapPort] = []
        self._created = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="tap-reader", daemon=True)
        self._reader.start()

    def open(self, tap_id: str, peer: tuple[str, int], peer_tap: str) -> TapPort:
        """A tap port for ``tap_id`` sending to ``peer_tap`` at ``peer`` (main thread: may
        create a pjsua2 port)."""
        if self._idle:
            port = self._idle.pop()
        else:
            self._created += 1
            port = TapPort(self._created, self._sock)
        port.attach(tap_id, peer, peer_tap)
        self._open[tap_id] = port
        return port

    def release(self, tap_id: str) -> None:
        """The tap's port goes back to the idle ones (disconnect it from calls first)."""
        port = self._open.pop(tap_id, None)
        if port is not None:
            port.detach()
            self._idle.append(port)

    def close(self) -> None:
        """Stop the reader, then let go of every port (main thread, before ``libDestroy``).

        The reader is joined first: a port whose last reference went on the reader thread
        would be destroyed there, and pjsua2 aborts when called from an unknown thread."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv
        self._reader.join(timeout=2.0)
        self._sock.close()
        for port in self._open.values():
            port.detach()
        self._open.clear()
        self._idle.clear()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            parsed = parse_datagram(data)
            if parsed is None:
                continue
            port = self._open.get(parsed[0])
            if port is not None:
                port.feed(parsed[1])
            port = None  # never hold a port here: see ``close``
