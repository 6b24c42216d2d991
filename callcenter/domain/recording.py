"""Recording rules, pure: which calls are recorded, where their file goes, how long they
keep, and the two mono tracks made into one stereo file.

No I/O here: the adapters in :mod:`callcenter.recording` read and write the files.

-*- test-case-name: tests.unit.recording.test_rules -*-
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime

ALWAYS = "always"
NEVER = "never"
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
_AGE_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def policy_share(policy: str) -> float:
    """The share of calls a queue's ``recording`` policy records (0 to 1).

    ``always`` is 1, ``never`` 0, ``"NN%"`` NN/100; anything else raises ``ValueError`` with
    the reason (a typo must not silently stop recording)."""
    text = policy.strip().lower()
    if text == ALWAYS:
        return 1.0
    if text == NEVER:
        return 0.0
    found = _PERCENT.fullmatch(text)
    if found is None:
        raise ValueError(f'{policy!r} is not always, never or a percentage like "25%"')
    share = float(found.group(1)) / 100
    if share > 1:
        raise ValueError(f"{policy!r}: a percentage is at most 100%")
    return share


def should_record(policy: str, draw: float) -> bool:
    """Whether a call is recorded, given a uniform ``draw`` in [0, 1) (the caller's random
    source, seeded in tests). ``always`` and ``never`` ignore the draw."""
    share = policy_share(policy)
    return share >= 1 or draw < share


def parse_age(text: str) -> float:
    """``90d``, ``12h``, ``30m`` as seconds; ``ValueError`` for anything else."""
    found = _AGE.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not an age like 90d, 12h or 30m")
    return float(found.group(1)) * _AGE_UNITS[found.group(2)]


def file_stem(call_id: str) -> str:
    """A SIP Call-ID as a file name: characters outside ``A-Za-z0-9._-`` become ``_``, so an
    ``@`` or a ``/`` never escapes the day directory."""
    stem = _UNSAFE.sub("_", call_id)[:200]
    return stem if stem.strip(".") else "_"


def day_directory(at: float) -> str:
    """``YYYY/MM/DD`` (UTC) of a Unix time."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y/%m/%d")


IVR = "ivr"
CONVERSATION = "conversation"


def relative_path(call_id: str, started_at: float, leg: str = CONVERSATION) -> str:
    """Where a recording goes under the recordings directory: ``<call-id>.wav`` for the
    conversation with the agent, ``<call-id>.ivr.wav`` for the IVR part of the call."""
    suffix = ".ivr" if leg == IVR else ""
    return f"{day_directory(started_at)}/{file_stem(call_id)}{suffix}.wav"


@dataclass
class Pause:
    """A stretch of a recording left silent: who asked, and when (Unix seconds)."""

    by: str
    at: float
    resumed_at: float | None = None

    def as_dict(self, ended_at: float) -> dict[str, object]:
        end = self.resumed_at if self.resumed_at is not None else ended_at
        return {
            "by": self.by,
            "at": round(self.at, 3),
            "resumed_at": round(end, 3),
            "seconds": round(max(0.0, end - self.at), 3),
        }


@dataclass
class Pauses:
    """The pause history of one recording; a pause while paused (or a resume while
    recording) changes nothing and says so."""

    items: list[Pause] = field(default_factory=list)

    @property
    def paused(self) -> bool:
        return bool(self.items) and self.items[-1].resumed_at is None

    def pause(self, by: str, at: float) -> bool:
        if self.paused:
            return False
        self.items.append(Pause(by, at))
        return True

    def resume(self, at: float) -> bool:
        if not self.paused:
            return False
        self.items[-1].resumed_at = at
        return True


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono 16-bit little-endian tracks as one stereo track (left, right, left, ...).

    The shorter track is padded with silence: the recorders start together but may stop a
    frame apart."""
    left_samples = array("h", left[: len(left) // 2 * 2])
    right_samples = array("h", right[: len(right) // 2 * 2])
    frames = max(len(left_samples), len(right_samples))
    left_samples.extend(array("h", bytes(2 * (frames - len(left_samples)))))
    right_samples.extend(array("h", bytes(2 * (frames - len(right_samples)))))
    stereo = array("h", bytes(4 * frames))
    stereo[0::2] = left_samples  # sample order only: byte order passes through unchanged
    stereo[1::2] = right_samples
    return stereo.tobytes()
