"""Prompt rendering, WAV conversion and the default hold music (real espeak-ng and sox)."""

from __future__ import annotations

import math
import shutil
import struct
import wave
from pathlib import Path

import pytest

from callcenter.media import moh, prompts
from tests.support.audio import analyze, dominant_frequency


def write_tone(path: Path, rate: int, channels: int, width: int, hz: float, seconds: float) -> Path:
    frames = []
    for i in range(int(rate * seconds)):
        value = math.sin(2 * math.pi * hz * i / rate) * 0.5
        if width == 2:
            sample = struct.pack("<h", int(value * 32767))
        else:
            sample = struct.pack("<i", int(value * 2**31 - 1))[1:] if width == 3 else b""
        frames.append(sample * channels)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(b"".join(frames))
    return path


def assert_playable(path: Path) -> None:
    assert prompts.is_playable(path), path


def test_render_say_makes_an_8k_mono_prompt_and_caches_it(tmp_path: Path) -> None:
    first = prompts.render_say("Press one for sales.", "en", tmp_path)
    assert_playable(first)
    stats = analyze(first)
    assert 0.8 < stats.sound_seconds < stats.duration < 4.0
    mtime = first.stat().st_mtime_ns
    assert prompts.render_say("Press one for sales.", "en", tmp_path) == first
    assert first.stat().st_mtime_ns == mtime, "served from the cache"
    assert prompts.render_say("Press two for support.", "en", tmp_path) != first
    assert prompts.render_say("Press one for sales.", "en", tmp_path, speed=120) != first


def test_render_say_takes_text_that_looks_like_options(tmp_path: Path) -> None:
    path = prompts.render_say("-v --help", "en", tmp_path)
    assert analyze(path).sound_seconds > 0.3


def test_render_say_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(prompts.PromptError, match="empty"):
        prompts.render_say("  ", "en", tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "espeak-ng").write_text("#!/bin/sh\necho 'no voice data' >&2\nexit 3\n")
    (fake / "espeak-ng").chmod(0o755)
    sox = shutil.which("sox")
    assert sox is not None
    (fake / "sox").symlink_to(sox)
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(prompts.PromptError, match=r"espeak-ng failed \(exit 3\): no voice data"):
        prompts.render_say("hello", "en", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(prompts.ToolMissingError, match="espeak-ng is not installed"):
        prompts.render_say("hello there", "en", tmp_path)


@pytest.mark.parametrize(
    ("rate", "channels", "width"), [(44100, 2, 2), (16000, 1, 3), (8000, 1, 2)]
)
def test_convert_wav_brings_any_wav_to_8k_mono_s16(
    tmp_path: Path, rate: int, channels: int, width: int
) -> None:
    source = write_tone(tmp_path / "in.wav", rate, channels, width, 440.0, 1.0)
    out = prompts.convert_wav(source, tmp_path / "cache")
    assert_playable(out)
    assert abs(analyze(out).duration - 1.0) < 0.02
    assert abs(dominant_frequency(out) - 440.0) <= 10
    assert prompts.convert_wav(source, tmp_path / "cache") == out


def test_convert_wav_notices_a_file_rewritten_in_place(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 16000, 1, 2, 440.0, 0.5)
    first = prompts.convert_wav(source, tmp_path / "cache")
    write_tone(source, 16000, 1, 2, 1000.0, 0.5)
    second = prompts.convert_wav(source, tmp_path / "cache")
    assert second != first
    assert abs(dominant_frequency(second) - 1000.0) <= 10


def test_convert_wav_errors(tmp_path: Path) -> None:
    with pytest.raises(prompts.PromptError, match="cannot read"):
        prompts.convert_wav(tmp_path / "missing.wav", tmp_path)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio")
    with pytest.raises(prompts.PromptError, match="sox failed"):
        prompts.convert_wav(junk, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.wav")), "no half-written cache entry"


def test_default_hold_music_is_a_seamless_20s_loop(tmp_path: Path) -> None:
    path = moh.default_hold_music(tmp_path)
    assert_playable(path)
    stats = analyze(path)
    assert abs(stats.duration - 20.0) < 0.1
    assert stats.sound_seconds > 18.0, "music, not silence"
    assert 8000 < stats.peak <= 16500, "about -6 dBFS"
    with wave.open(str(path), "rb") as wav:
        data = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    assert abs(samples[0]) < 200 and abs(samples[-1]) < 200, "no click at the loop point"
    assert moh.default_hold_music(tmp_path) == path
