"""Default music on hold: a gentle 20-second loop synthesised in pure Python.

We ship no audio files and download nothing, yet a caller on hold must hear something pleasant
rather than silence (silence makes callers hang up: they think the line dropped). Eight bars of
a I-vi-IV-V style progression at 96 BPM: a soft pad, a bass note and a plucked arpeggio. Every
note ends before the bar does, so the last sample is silence and the loop has no click.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import wave
from pathlib import Path

SAMPLE_RATE = 8000
BPM = 96
BEATS_PER_BAR = 4
VERSION = "1"  # bump when the music changes: the cache file name carries it

# MIDI note numbers: chord tones for each bar (root position triads around middle C).
_PROGRESSION: list[tuple[int, int, int]] = [
    (60, 64, 67),  # C
    (57, 60, 64),  # Am
    (53, 57, 60),  # F
    (55, 59, 62),  # G
    (60, 64, 67),  # C
    (57, 60, 64),  # Am
    (50, 53, 57),  # Dm
    (55, 59, 62),  # G  (leads back to C at the loop point)
]
# Arpeggio pattern over the chord tones (index into triad, octave shift), eighth notes.
_ARPEGGIO: list[tuple[int, int]] = [
    (0, 12),
    (1, 12),
    (2, 12),
    (1, 24),
    (2, 12),
    (1, 12),
    (0, 24),
    (2, 12),
]


def _hz(note: int) -> float:
    return float(440.0 * 2.0 ** ((note - 69) / 12.0))


def _add_note(
    buf: list[float], start: int, length: int, hz: float, gain: float, decay: float
) -> None:
    """Add a sine with a short attack, exponential decay and a release that reaches zero."""
    attack = int(0.01 * SAMPLE_RATE)
    release = int(0.05 * SAMPLE_RATE)
    step = 2.0 * math.pi * hz / SAMPLE_RATE
    for i in range(length):
        env = math.exp(-decay * i / SAMPLE_RATE)
        if i < attack:
            env *= i / attack
        if i > length - release:
            env *= (length - i) / release
        # a touch of the second harmonic makes it sound like an instrument, not a test tone
        phase = step * i
        buf[start + i] += gain * env * (math.sin(phase) + 0.25 * math.sin(2.0 * phase))


def synthesize_hold_music() -> list[int]:
    """The samples (16-bit signed) of the loop."""
    beat = 60.0 / BPM
    bar_samples = round(BEATS_PER_BAR * beat * SAMPLE_RATE)
    eighth = bar_samples // 8
    buf = [0.0] * (bar_samples * len(_PROGRESSION))
    for bar, chord in enumerate(_PROGRESSION):
        start = bar * bar_samples
        for note in chord:  # pad
            _add_note(buf, start, bar_samples, _hz(note), 0.07, 0.6)
        _add_note(buf, start, bar_samples, _hz(chord[0] - 12), 0.12, 1.2)  # bass
        for n, (index, shift) in enumerate(_ARPEGGIO):
            _add_note(buf, start + n * eighth, eighth, _hz(chord[index] + shift), 0.10, 6.0)
    peak = max(abs(s) for s in buf) or 1.0
    scale = 0.5 * 32767 / peak  # about -6 dBFS: comfortable on a phone
    return [round(s * scale) for s in buf]


def default_hold_music(cache_dir: Path) -> Path:
    """Path of the default hold music WAV (8 kHz mono s16), written once into ``cache_dir``."""
    target = Path(cache_dir) / f"hold-music-v{VERSION}.wav"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    samples = synthesize_hold_music()
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=target.parent, prefix=".tmp-")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
