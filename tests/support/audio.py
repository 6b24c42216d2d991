"""Facts about a recorded WAV, for asserting "the phone heard the prompt".

Pure Python (no numpy): frame RMS gives how long the audio was not silent; a Goertzel scan gives
the dominant frequency of a tone. Good enough to tell a prompt from silence, a 1 kHz test tone
from a 440 Hz one, and a 3-second prompt from a 1-second one.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

FRAME_SECONDS = 0.02
SILENCE_RMS = 200.0  # 16-bit scale; G.711 idle noise and comfort silence stay well below


@dataclass(frozen=True)
class AudioStats:
    duration: float  # seconds of audio in the file
    sound_seconds: float  # seconds in 20 ms frames louder than the silence threshold
    first_sound: float | None  # time of the first non-silent frame
    last_sound: float | None  # end time of the last non-silent frame
    rms: float  # over the whole file, 16-bit scale
    peak: int
    sample_rate: int


def read_samples(path: Path | str) -> tuple[list[int], int]:
    """Mono 16-bit samples of a WAV (the first channel if several) and its sample rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV is supported")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    samples = list(struct.unpack(f"<{len(data) // 2}h", data))
    return samples[::channels], rate


def analyze(path: Path | str, silence_rms: float = SILENCE_RMS) -> AudioStats:
    samples, rate = read_samples(path)
    frame = max(1, int(rate * FRAME_SECONDS))
    loud: list[int] = []
    for index, start in enumerate(range(0, len(samples), frame)):
        chunk = samples[start : start + frame]
        if math.sqrt(sum(s * s for s in chunk) / len(chunk)) > silence_rms:
            loud.append(index)
    total = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return AudioStats(
        duration=len(samples) / rate if rate else 0.0,
        sound_seconds=len(loud) * frame / rate,
        first_sound=loud[0] * frame / rate if loud else None,
        last_sound=(loud[-1] + 1) * frame / rate if loud else None,
        rms=total,
        peak=max((abs(s) for s in samples), default=0),
        sample_rate=rate,
    )


def goertzel_power(samples: list[int], rate: int, hz: float) -> float:
    """Power of one frequency in ``samples`` (Goertzel algorithm)."""
    coeff = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def dominant_frequency(
    path: Path | str,
    low: float = 100.0,
    high: float = 3800.0,
    step: float = 10.0,
    window_seconds: float = 0.5,
) -> float:
    """The strongest frequency (to ``step`` Hz) in the loudest ``window_seconds`` of the file."""
    samples, rate = read_samples(path)
    window = min(len(samples), int(rate * window_seconds))
    if window == 0:
        return 0.0
    best_start, best_energy = 0, -1.0
    for start in range(0, len(samples) - window + 1, max(1, window // 2)):
        # Every sample: a stride would alias away tones whose period divides it (1 kHz at
        # 8 kHz has period 8, and every 4th sample of it is 0).
        energy = sum(s * s for s in samples[start : start + window])
        if energy > best_energy:
            best_start, best_energy = start, energy
    chunk = samples[best_start : best_start + window]
    candidates = [low + i * step for i in range(int((high - low) / step) + 1)]
    return max(candidates, key=lambda hz: goertzel_power(chunk, rate, hz))


def tone(path: Path, hz: float, seconds: float = 4.0) -> Path:
    """An 8 kHz mono 16-bit sine: what sox -n synth would make, without sox."""
    rate = 8000
    samples = (
        int(9000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def tone_seconds(
    path: Path | str, hz: float, share: float = 0.05, window_seconds: float = 0.5
) -> float:
    """How long ``hz`` is clearly heard in the file: the seconds of windows where that tone
    carries at least ``share`` of the window's energy (a lone sine: ~0.5 with this measure,
    two equally loud ones: ~0.25 each; codec noise stays far below 0.01). Silent windows
    count as not hearing it."""
    samples, rate = read_samples(path)
    window = int(rate * window_seconds)
    heard = 0
    for start in range(0, len(samples) - window + 1, window):
        chunk = samples[start : start + window]
        energy = sum(s * s for s in chunk)
        if energy < window * SILENCE_RMS * SILENCE_RMS:
            continue
        if goertzel_power(chunk, rate, hz) / (window * energy) >= share:
            heard += 1
    return heard * window_seconds


def read_stereo(path: Path | str) -> tuple[list[int], list[int], int]:
    """Left and right 16-bit samples of a stereo WAV, and its sample rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 2:
            raise ValueError(f"{path}: expected 16-bit stereo")
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    samples = list(struct.unpack(f"<{len(data) // 2}h", data))
    return samples[0::2], samples[1::2], rate


def write_mono(path: Path, samples: list[int], rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def tone_after(path: Path, hz: float, silence: float, seconds: float) -> Path:
    """``silence`` seconds of silence, then a ``hz`` sine for ``seconds`` (8 kHz mono)."""
    rate = 8000
    quiet = [0] * int(rate * silence)
    sine = [int(9000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(rate * seconds))]
    return write_mono(path, quiet + sine, rate)


def silent_stretches(
    samples: list[int], rate: int, min_seconds: float, silence_rms: float = SILENCE_RMS
) -> list[tuple[float, float]]:
    """(start, end) in seconds of every run of 20 ms frames quieter than ``silence_rms``
    lasting at least ``min_seconds``."""
    frame = max(1, int(rate * FRAME_SECONDS))
    runs: list[tuple[float, float]] = []
    start: int | None = None
    count = (len(samples) + frame - 1) // frame
    for index in range(count + 1):
        chunk = samples[index * frame : (index + 1) * frame]
        quiet = bool(chunk) and math.sqrt(sum(s * s for s in chunk) / len(chunk)) <= silence_rms
        if quiet and start is None:
            start = index
        elif not quiet and start is not None:
            if (index - start) * frame / rate >= min_seconds:
                runs.append((start * frame / rate, index * frame / rate))
            start = None
    return runs


def tone_power_ratio(samples: list[int], rate: int, hz: float, other: float) -> float:
    """How much stronger ``hz`` is than ``other`` in ``samples`` (cross-talk check)."""
    return goertzel_power(samples, rate, hz) / max(goertzel_power(samples, rate, other), 1.0)
