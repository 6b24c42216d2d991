"""What the IVR engine asks its adapter to do.

The engine never plays audio or runs timers itself: it returns these values
and the media adapter carries them out, then reports back with the token it
was given. Keeping them plain frozen data lets the engine be tested without
a reactor and lets the app log every decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Say:
    """Text to speak with the text-to-speech voice for ``language``."""

    text: str
    language: str


@dataclass(frozen=True)
class PlayFile:
    """A WAV file to play; ``path`` is absolute."""

    path: str


Prompt: TypeAlias = Say | PlayFile


@dataclass(frozen=True)
class Play:
    """Play ``prompts`` in order, then report ``playback_done(token)``.

    When ``interruptible`` is true the engine will answer a digit with
    :class:`StopPlayback`; the adapter may still report the token afterwards,
    which the engine ignores.
    """

    prompts: tuple[Prompt, ...]
    token: str
    interruptible: bool


@dataclass(frozen=True)
class StopPlayback:
    """Stop whatever this call is playing (barge-in)."""


@dataclass(frozen=True)
class StartTimer:
    """Report ``timer_fired(token)`` after ``seconds`` unless cancelled."""

    token: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    """Forget the timer started with ``token``."""

    token: str


@dataclass(frozen=True)
class NodeEntered:
    """The session entered flow node ``node`` of type ``kind`` (for the event log)."""

    node: str
    kind: str


@dataclass(frozen=True)
class MenuChosen:
    """The caller took a menu option: ``digit`` led to node ``choice`` (for reports)."""

    node: str
    digit: str
    choice: str


@dataclass(frozen=True)
class HoursChecked:
    """A condition node tested business hours: ``open`` tells whether they held (an
    ``open: false`` marks the call as arrived after hours)."""

    node: str
    open: bool


@dataclass(frozen=True)
class DigitsCollected:
    """A collect node stored ``value`` in ``variable`` (for the event log)."""

    node: str
    variable: str
    value: str


@dataclass(frozen=True)
class EnterQueue:
    """Terminal: put the call in ``queue`` with this priority and required skills."""

    queue: str
    priority: int
    skills: Mapping[str, int]


@dataclass(frozen=True)
class Transfer:
    """Terminal: send the call to ``target``."""

    target: str


@dataclass(frozen=True)
class Hangup:
    """Terminal: end the call; ``reason`` goes to the event log."""

    reason: str


Terminal: TypeAlias = EnterQueue | Transfer | Hangup

Action: TypeAlias = (
    Play
    | StopPlayback
    | StartTimer
    | CancelTimer
    | NodeEntered
    | MenuChosen
    | HoursChecked
    | DigitsCollected
    | EnterQueue
    | Transfer
    | Hangup
)
