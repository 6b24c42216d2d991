"""The pure parts of an audio tap (:mod:`callcenter.media.tap`): its datagram format and the
playout queue between the network and the media clock. No pjsua2 here, so both are tested in
the test process.

Datagram: one byte with the receiving tap's id length, that id (ASCII), then one 20 ms frame
of 8 kHz 16-bit mono PCM.

-*- test-case-name: tests.unit.media.test_tap_audio -*-
"""

from __future__ import annotations

import collections
import contextlib

CLOCK_RATE = 8000
FRAME_USEC = 20_000
BITS_PER_SAMPLE = 16
FRAME_BYTES = CLOCK_RATE * FRAME_USEC // 1_000_000 * BITS_PER_SAMPLE // 8  # 320
# Playout starts (again) once this many frames wait: 40 ms absorbs a loaded machine's bursts.
PREFILL_FRAMES = 2
# More than this waiting (the peer's clock runs fast, or we stalled): drop the oldest, so the
# delay stays bounded instead of growing for the whole session.
MAX_QUEUED_FRAMES = 6


def datagram_header(tap_id: str) -> bytes:
    """What precedes every frame sent to ``tap_id`` (1-64 printable ASCII characters)."""
    return bytes([len(tap_id)]) + tap_id.encode("ascii")


def parse_datagram(data: bytes) -> tuple[str, bytes] | None:
    """(tap id, frame), or None for anything that is not one whole frame for a tap."""
    if not data:
        return None
    size = data[0]
    frame = data[1 + size :]
    if size == 0 or len(data) < 1 + size or len(frame) != FRAME_BYTES:
        return None
    return data[1 : 1 + size].decode("ascii", "replace"), frame


class PlayoutQueue:
    """Frames from the peer, waiting for the media clock.

    ``push`` runs on the reader thread and ``pop`` on the clock thread; a ``deque``'s append
    and popleft are atomic, and the counters are only for statistics.
    """

    def __init__(self) -> None:
        self._frames: collections.deque[bytes] = collections.deque()
        self._playing = False
        self.received = self.underruns = self.dropped = 0

    def reset(self) -> None:
        self._frames.clear()
        self._playing = False
        self.received = self.underruns = self.dropped = 0

    def push(self, frame: bytes) -> None:
        self.received += 1
        if len(self._frames) >= MAX_QUEUED_FRAMES:
            with contextlib.suppress(IndexError):  # the clock thread took it meanwhile
                self._frames.popleft()
                self.dropped += 1
        self._frames.append(frame)

    def pop(self) -> bytes | None:
        """The next frame to play, or None (still buffering, or ran dry: an underrun)."""
        frames = self._frames
        if not self._playing and len(frames) >= PREFILL_FRAMES:
            self._playing = True
        if self._playing:
            try:
                return frames.popleft()
            except IndexError:
                self.underruns += 1  # ran dry: buffer again before playing on
                self._playing = False
        return None
