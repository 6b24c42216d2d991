"""Audio files the media workers can play: spoken prompts and converted WAVs.

Workers play 8 kHz mono 16-bit PCM WAV (the conference bridge clock), so every prompt is brought
to that format once, ahead of time, and cached under a name derived from what produced it. These
functions block (they run espeak-ng and sox): the controller calls them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

SAMPLE_RATE = 8000
SOX_OUTPUT = ["-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
TOOL_TIMEOUT_SECONDS = 60.0
# Part of every cache key: bump it when the rendering pipeline changes.
PIPELINE_VERSION = "1"


class PromptError(RuntimeError):
    """A prompt could not be rendered or converted."""


class ToolMissingError(PromptError):
    """espeak-ng or sox is not installed (or not on PATH)."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} is not installed or not on PATH; it is needed for prompts")
    return path


def _run(args: list[str], stdin: bytes | None = None) -> None:
    try:
        result = subprocess.run(
            args, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise PromptError(f"{Path(args[0]).name} timed out") from None
    except OSError as exc:
        raise PromptError(f"cannot run {args[0]}: {exc}") from None
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()
        raise PromptError(f"{Path(args[0]).name} failed (exit {result.returncode}): {err}")


def _sox_to_8k(sox: str, source: Path, target: Path) -> None:
    """Convert with sox into a temporary file, then rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=target.parent, prefix=".tmp-")
    os.close(fd)
    try:
        _run([sox, "-q", str(source), *SOX_OUTPUT, tmp])
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def render_say(text: str, voice: str, cache_dir: Path, speed: int | None = None) -> Path:
    """Speak ``text`` with espeak-ng ``voice`` into an 8 kHz mono WAV under ``cache_dir``.

    The file name is a hash of text, voice, speed and pipeline version, so equal prompts are
    rendered once and an edited prompt gets a new file (players of the old one are unaffected).
    """
    if not text.strip():
        raise PromptError("nothing to say: empty text")
    key = hashlib.sha256(
        "\0".join([PIPELINE_VERSION, voice, str(speed or ""), text]).encode()
    ).hexdigest()[:32]
    target = Path(cache_dir) / f"say-{key}.wav"
    if target.exists():
        return target
    espeak = _tool("espeak-ng")
    sox = _tool("sox")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".say-") as work:
        raw = Path(work) / "espeak.wav"
        args = [espeak, "-v", voice, "-w", str(raw), "--stdin"]
        if speed is not None:
            args[1:1] = ["-s", str(speed)]
        _run(args, stdin=text.encode())
        _sox_to_8k(sox, raw, target)
    return target


def is_playable(path: Path) -> bool:
    """True for a plain PCM WAV that is already 8 kHz, mono, 16-bit."""
    try:
        with wave.open(str(path), "rb") as wav:
            return (
                wav.getframerate() == SAMPLE_RATE
                and wav.getnchannels() == 1
                and wav.getsampwidth() == 2
                and wav.getcomptype() == "NONE"
            )
    except (wave.Error, EOFError, OSError):
        return False


def convert_wav(path: Path, cache_dir: Path) -> Path:
    """Bring any WAV (rate, channels, bit depth) to 8 kHz mono s16 under ``cache_dir``.

    Cached by a hash of the content (with size and mtime in the key so a file rewritten in place
    never hits a stale entry); a file already in the target format is still copied through sox
    into the cache so the worker plays a file the controller controls.
    """
    source = Path(path)
    try:
        stat = source.stat()
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise PromptError(f"cannot read {source}: {exc}") from None
    digest.update(f"\0{PIPELINE_VERSION}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    target = Path(cache_dir) / f"wav-{digest.hexdigest()[:32]}.wav"
    if target.exists():
        return target
    _sox_to_8k(_tool("sox"), source, target)
    return target
