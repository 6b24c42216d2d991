"""The call session turns media events into IVR input and IVR actions into worker commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from callcenter.calls.prompts import PromptFiles
from callcenter.calls.session import CallSession
from callcenter.domain.calls import CallRecord, Outcome
from callcenter.domain.ivr.engine import CallContext, IvrSession
from callcenter.domain.ivr.loader import load_flow
from callcenter.media import protocol

FLOW = """\
version: 1
start: menu
nodes:
  menu:
    type: menu
    prompt: "Press 1 for sales."
    options: {"1": sales}
    timeout: 4
    retries: 1
    no_input: "Sorry, I did not hear you."
    on: {no_input: bye}
  sales: {type: queue, queue: sales, priority: 2}
  bye: {type: hangup, reason: no_input}
"""


class FakeMedia:
    """Keeps what the worker would receive, as it goes on the wire (and checked like it)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, call_id: str, command: protocol.Command) -> None:
        wire = protocol.to_dict(command)
        protocol.command_from_dict(wire)  # what the real worker would refuse fails here
        self.sent.append(wire)

    def commands(self) -> list[str]:
        return [c["cmd"] for c in self.sent]


class MemoryJournal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.saved: list[dict[str, Any]] = []

    def save(self, record: CallRecord) -> None:
        self.saved.append(record.to_json())

    def event(self, event_type: str, record: CallRecord, **data: Any) -> None:
        self.events.append((event_type, data))


def _session(tmp_path: Path) -> tuple[CallSession, FakeMedia, MemoryJournal, Clock]:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    flow = load_flow(path)
    clock = Clock()
    media, journal = FakeMedia(), MemoryJournal()

    def render_in_test(function: Any, *args: Any) -> Deferred[Path]:
        return succeed(Path(f"/cache/{abs(hash(args[0]))}.wav"))

    prompts = PromptFiles(tmp_path, lambda *_: Path(), lambda *_: Path(), render_in_test)
    record = CallRecord("c1", "+4411", "", "100", arrived_at=0.0)
    ivr = IvrSession(
        flow, CallContext("c1", "+4411", "100"), lambda: datetime(2026, 1, 5, tzinfo=UTC)
    )
    session = CallSession(
        record, ivr, "flow.yaml", media, prompts, journal, clock, clock.seconds, Path("/moh.wav")
    )
    return session, media, journal, clock


def test_the_digit_pressed_chooses_the_queue_and_the_caller_hears_hold_music(
    tmp_path: Path,
) -> None:
    session, media, journal, clock = _session(tmp_path)
    session.incoming()
    assert media.commands() == ["answer"]
    clock.advance(0.2)
    session.media_answered()
    play = media.sent[-1]
    assert play["cmd"] == "play" and len(play["files"]) == 1
    session.digit("1", "rfc4733")  # barge-in during the menu prompt
    assert media.commands()[-2:] == ["stop_play", "play"]
    hold = media.sent[-1]
    assert hold["files"] == ["/moh.wav"] and hold["loop"] is True
    assert session.record.outcome is Outcome.QUEUED
    assert session.record.queue == "sales"
    assert ("call.queued", {"queue": "sales", "priority": 2, "skills": {}}) in journal.events
    clock.advance(30)
    session.media_ended("remote", 200, "BYE")
    assert journal.saved[-1]["outcome"] == "abandoned"
    assert journal.saved[-1]["wait"] == 30.0


def test_silence_replays_the_prompt_then_hangs_up(tmp_path: Path) -> None:
    session, media, _, clock = _session(tmp_path)
    session.media_answered()
    session.playback_done(media.sent[-1]["token"])
    clock.advance(4)  # no input: "Sorry..." and the menu again
    assert media.sent[-1]["cmd"] == "play" and len(media.sent[-1]["files"]) == 2
    session.playback_done(media.sent[-1]["token"])
    clock.advance(4)  # retries used up: the flow hangs up
    assert media.sent[-1] == {"cmd": "hangup", "call": "c1", "code": 486}  # a BYE: answered
    session.media_ended("local", 200, "normal")
    assert session.record.outcome is Outcome.COMPLETED
    assert session.record.end_node == "bye"


def test_a_stale_playback_done_is_ignored_and_timers_stop_at_hangup(tmp_path: Path) -> None:
    session, media, _, clock = _session(tmp_path)
    session.media_answered()
    session.playback_done("menu:play:999")  # not the current prompt: nothing starts
    assert clock.getDelayedCalls() == []
    session.playback_done(media.sent[-1]["token"])
    assert len(clock.getDelayedCalls()) == 1  # the no-input timer
    session.media_ended("remote", 200, "BYE")
    assert clock.getDelayedCalls() == []
    assert session.record.outcome is Outcome.ABANDONED
    assert session.record.end_node == "menu"
