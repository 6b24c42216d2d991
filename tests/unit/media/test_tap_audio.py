"""The tap's datagrams and its playout queue: prefill, underruns, bounded delay."""

from __future__ import annotations

from callcenter.media.tap_audio import (
    FRAME_BYTES,
    MAX_QUEUED_FRAMES,
    PREFILL_FRAMES,
    PlayoutQueue,
    datagram_header,
    parse_datagram,
)


def frame(n: int) -> bytes:
    return bytes([n % 256]) * FRAME_BYTES


def test_a_datagram_names_its_tap_and_carries_one_frame() -> None:
    data = datagram_header("mon-1-s") + frame(7)
    assert parse_datagram(data) == ("mon-1-s", frame(7))


def test_broken_datagrams_are_ignored() -> None:
    assert parse_datagram(b"") is None
    assert parse_datagram(datagram_header("t") + frame(1)[:-2]) is None  # short frame
    assert parse_datagram(b"\x09abc") is None  # id longer than the datagram
    assert parse_datagram(b"\x00" + frame(1)) is None  # no id


def test_playout_waits_for_the_prefill_then_plays_in_order() -> None:
    queue = PlayoutQueue()
    queue.push(frame(1))
    assert queue.pop() is None  # buffering: not an underrun
    for n in range(2, PREFILL_FRAMES + 2):
        queue.push(frame(n))
    assert [queue.pop() for _ in range(PREFILL_FRAMES + 1)] == [
        frame(n) for n in range(1, PREFILL_FRAMES + 2)
    ]
    assert queue.underruns == 0


def test_running_dry_counts_one_underrun_and_buffers_again() -> None:
    queue = PlayoutQueue()
    for n in range(PREFILL_FRAMES):
        queue.push(frame(n))
    for _ in range(PREFILL_FRAMES):
        assert queue.pop() is not None
    assert queue.pop() is None and queue.pop() is None
    assert queue.underruns == 1  # one gap, however long
    queue.push(frame(9))
    assert queue.pop() is None  # prefill again before playing on


def test_the_delay_is_bounded_by_dropping_the_oldest() -> None:
    queue = PlayoutQueue()
    for n in range(MAX_QUEUED_FRAMES + 3):
        queue.push(frame(n))
    assert queue.dropped == 3 and queue.received == MAX_QUEUED_FRAMES + 3
    assert queue.pop() == frame(3)
