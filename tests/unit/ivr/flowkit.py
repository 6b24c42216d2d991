"""Test helpers: write a flow from a string, drive a session, read its actions."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from callcenter.domain.ivr import (
    Action,
    CallContext,
    EnterQueue,
    Flow,
    Hangup,
    IvrSession,
    Play,
    StartTimer,
    Transfer,
    load_flow,
)
from callcenter.domain.ivr.actions import Say


@dataclass
class FakeClock:
    """A clock the test sets by hand."""

    now: datetime = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday

    def __call__(self) -> datetime:
        return self.now


def write_flow(directory: Path, text: str, name: str = "flow.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def flow_from(directory: Path, text: str) -> Flow:
    return load_flow(write_flow(directory, text))


def start_session(
    flow: Flow, *, caller: str = "+441632960001", clock: FakeClock | None = None
) -> tuple[IvrSession, list[Action]]:
    session = IvrSession(flow, CallContext("call-1", caller, "+441632960999"), clock or FakeClock())
    return session, session.start()


def play_of(actions: list[Action]) -> Play:
    plays = [action for action in actions if isinstance(action, Play)]
    assert len(plays) == 1, actions
    return plays[0]


def timer_of(actions: list[Action]) -> StartTimer:
    timers = [action for action in actions if isinstance(action, StartTimer)]
    assert len(timers) == 1, actions
    return timers[0]


def spoken(actions: list[Action]) -> list[tuple[str, str]]:
    """(text, language) of every Say in every Play, in order."""
    return [
        (prompt.text, prompt.language)
        for action in actions
        if isinstance(action, Play)
        for prompt in action.prompts
        if isinstance(prompt, Say)
    ]


def ending(actions: list[Action]) -> EnterQueue | Transfer | Hangup:
    """The terminal action, which must be the last one."""
    last = actions[-1]
    assert isinstance(last, EnterQueue | Transfer | Hangup), actions
    return last


def finish_prompt(session: IvrSession, actions: list[Action]) -> list[Action]:
    """Report the one playback in ``actions`` as done."""
    return session.playback_done(play_of(actions).token)


def time_out(session: IvrSession, actions: list[Action]) -> list[Action]:
    """Fire the one timer started in ``actions``."""
    return session.timer_fired(timer_of(actions).token)
