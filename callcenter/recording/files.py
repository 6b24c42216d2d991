"""Recordings on disk: the stereo WAV and its JSON sidecar under ``YYYY/MM/DD/``.

Blocking file I/O: the service calls :func:`save` from the reactor's thread pool, never on
the reactor thread. Every failure is a :class:`RecordingError` whose message says what could
not be done (it becomes the ``recording.failed`` reason and the alarm's text).

Files appear atomically: each is written under a ``.part`` name, flushed to disk and renamed,
the WAV before its sidecar, so a listed recording always has its audio complete.

-*- test-case-name: tests.unit.recording.test_files -*-
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.domain.recording import (
    CONVERSATION,
    IVR,
    day_directory,
    file_stem,
    interleave,
    relative_path,
)

# A mono file may end this much short of the time its recorder ran (the last frames of a
# hang-up) before it counts as cut short (disk full, write error).
SHORTFALL_TOLERANCE_SECONDS = 1.0
SIDECAR_VERSION = 1


class RecordingError(Exception):
    """A recording could not be made whole; the message is the operator's reason."""


@dataclass(frozen=True)
class Finished:
    """A conversation's two mono tracks, closed by the worker, and what the sidecar says."""

    call_id: str
    caller: str
    agent: str
    queue: str
    started_at: float  # Unix seconds
    ended_at: float
    left_file: Path  # the caller
    right_file: Path  # the agent
    seconds: float  # how long the recorders ran
    pauses: list[dict[str, Any]] = field(default_factory=list)
    leg: str = CONVERSATION  # or IVR: caller left, what the IVR played to it right


def read_pcm(path: Path) -> tuple[bytes, int]:
    """The 16-bit PCM samples of a mono WAV and its rate.

    Reads the ``data`` chunk to the end of the file whatever its header says: a recorder that
    could not finish (disk full) leaves a header claiming no data."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise RecordingError(f"{path} is not a WAV file ({len(raw)} bytes)")
    offset, rate, bits, channels = 12, 0, 0, 0
    while offset + 8 <= len(raw):
        chunk, size = raw[offset : offset + 4], struct.unpack("<I", raw[offset + 4 : offset + 8])[0]
        body = offset + 8
        if chunk == b"fmt " and size >= 16:
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", raw[body : body + 16])
        elif chunk == b"data":
            if channels != 1 or bits != 16 or rate <= 0:
                raise RecordingError(f"{path}: expected 16-bit mono, got {bits}-bit x{channels}")
            return raw[body:], rate
        offset = body + size + (size & 1)
    raise RecordingError(f"{path} has no audio data")


def save(directory: Path, finished: Finished, url: str) -> dict[str, Any]:
    """Make the stereo WAV (caller left, agent right) and its sidecar; return the sidecar.

    The spool files are removed once both are in place; on failure they stay (nothing is
    lost) and ``RecordingError`` says why."""
    left, rate = read_pcm(finished.left_file)
    right, right_rate = read_pcm(finished.right_file)
    if rate != right_rate:
        raise RecordingError(f"the two tracks differ in rate ({rate} and {right_rate} Hz)")
    right_name = "prompts" if finished.leg == IVR else "agent"
    for name, track in (("caller", left), (right_name, right)):
        got = len(track) / 2 / rate
        if got < finished.seconds - SHORTFALL_TOLERANCE_SECONDS:
            raise RecordingError(
                f"the {name} track holds {got:.1f} s of {finished.seconds:.1f} s recorded "
                "(disk full or write error)"
            )
    stereo = interleave(left, right)
    relative = relative_path(finished.call_id, finished.started_at, finished.leg)
    target = directory / relative
    duration = round(len(stereo) / 4 / rate, 3)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _write_wav(target, stereo, rate)
        sidecar = {
            "version": SIDECAR_VERSION,
            "call_id": finished.call_id,
            "leg": finished.leg,
            "caller": finished.caller,
            "agent": finished.agent or None,
            "queue": finished.queue or None,
            "start": round(finished.started_at, 3),
            "end": round(finished.ended_at, 3),
            "duration": duration,
            "sha256": digest,
            "pauses": finished.pauses,
            "file": relative,
            "url": url,
            "channels": {"left": "caller", "right": right_name},
            "sample_rate": rate,
        }
        _write_atomically(target.with_suffix(".json"), json.dumps(sidecar, indent=2).encode())
    except OSError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise RecordingError(f"cannot write {target}: {exc.strerror or exc}") from None
    for spooled in (finished.left_file, finished.right_file):
        with contextlib.suppress(OSError):
            spooled.unlink()
    return sidecar


def _write_wav(target: Path, stereo: bytes, rate: int) -> str:
    """Write the stereo file atomically; its sha256 (of the bytes as they are on disk)."""
    part = target.with_name(target.name + ".part")
    try:
        with part.open("wb") as out:
            with wave.open(out, "wb") as wav:
                wav.setnchannels(2)
                wav.setsampwidth(2)
                wav.setframerate(rate)
                wav.writeframes(stereo)
            out.flush()
            os.fsync(out.fileno())
        digest = hashlib.sha256()
        with part.open("rb") as written:
            for block in iter(lambda: written.read(1 << 20), b""):
                digest.update(block)
        os.replace(part, target)
    except OSError:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return digest.hexdigest()


def _write_atomically(target: Path, data: bytes) -> None:
    part = target.with_name(target.name + ".part")
    try:
        with part.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    except OSError:
        with contextlib.suppress(OSError):
            part.unlink()
        raise


def check_writable(directory: Path, spool: Path) -> None:
    """Create both directories and prove a file can be written in each; ``RecordingError``
    otherwise (checked at start, so an unwritable directory alarms before the first call)."""
    for place in (directory, spool):
        probe = place / f".probe-{os.getpid()}"
        try:
            place.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise RecordingError(f"cannot write in {place}: {exc.strerror or exc}") from None


class RecordingStore:
    """Reads the recordings directory: find, list and purge (blocking; use a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def sidecar_path(self, call_id: str, leg: str = CONVERSATION) -> Path | None:
        stem = file_stem(call_id) + (".ivr" if leg == IVR else "")
        for path in sorted(self.directory.glob(f"[0-9]*/[0-9]*/[0-9]*/{stem}.json")):
            return path
        return None

    def sidecar(self, call_id: str, leg: str = CONVERSATION) -> dict[str, Any] | None:
        path = self.sidecar_path(call_id, leg)
        if path is None:
            return None
        document = _read_sidecar(path)
        if document is None or document.get("call_id") != call_id:
            return None
        return document

    def audio_path(self, call_id: str, leg: str = CONVERSATION) -> Path | None:
        document = self.sidecar(call_id, leg)
        if document is None:
            return None
        path = self.directory / str(document.get("file", ""))
        return path if path.is_file() else None

    def find(
        self,
        since: float | None = None,
        until: float | None = None,
        queue: str | None = None,
        agent: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Sidecars newest first, started in ``[since, until)``, of ``queue`` and ``agent``."""
        found: list[dict[str, Any]] = []
        for day in self._days(since, until):
            sidecars = [_read_sidecar(p) for p in day.glob("*.json")]
            for document in sorted(
                (d for d in sidecars if d is not None),
                key=lambda d: float(d.get("start", 0)),
                reverse=True,
            ):
                start = float(document.get("start", 0))
                if (since is not None and start < since) or (until is not None and start >= until):
                    continue
                if queue is not None and document.get("queue") != queue:
                    continue
                if agent is not None and document.get("agent") != agent:
                    continue
                found.append(document)
                if len(found) >= limit:
                    return found
        return found

    def _days(self, since: float | None, until: float | None) -> Iterator[Path]:
        """Day directories newest first, only those the range can touch."""
        days = sorted(self.directory.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]"))
        low = day_directory(since) if since is not None else None
        high = day_directory(until) if until is not None else None
        for day in reversed(days):
            name = day.relative_to(self.directory).as_posix()
            if (low is None or name >= low) and (high is None or name <= high):
                yield day

    def purge(
        self, older_than: float, now: float | None = None, dry_run: bool = False
    ) -> list[Path]:
        """Remove recordings that ended more than ``older_than`` seconds ago, WAV and sidecar
        together (a WAV without sidecar ages by its modification time). Returns what went
        (or would go, with ``dry_run``)."""
        cutoff = (time.time() if now is None else now) - older_than
        removed: list[Path] = []
        for wav_file in sorted(self.directory.glob("[0-9]*/[0-9]*/[0-9]*/*.wav")):
            sidecar = wav_file.with_suffix(".json")
            document = _read_sidecar(sidecar) if sidecar.exists() else None
            try:
                ended = float(document["end"]) if document else wav_file.stat().st_mtime
            except (KeyError, TypeError, ValueError, OSError):
                continue
            if ended >= cutoff:
                continue
            for path in (wav_file, sidecar):
                if path.exists():
                    removed.append(path)
                    if not dry_run:
                        path.unlink()
        if not dry_run:
            self._remove_empty_days()
        return removed

    def _remove_empty_days(self) -> None:
        for level in ("[0-9]*/[0-9]*/[0-9]*", "[0-9]*/[0-9]*", "[0-9]*"):
            for folder in self.directory.glob(level):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only empty ones go


def day_range(start: str) -> tuple[float, float]:
    """``YYYY-MM-DD`` as the Unix times of that UTC day's start and the next day's."""
    day = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=UTC)
    return day.timestamp(), (day + timedelta(days=1)).timestamp()


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None
