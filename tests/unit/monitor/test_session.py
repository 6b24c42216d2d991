"""A monitor session's commands to the two workers, its mode changes and its ends."""

from __future__ import annotations

from typing import Any

from callcenter.domain.monitor import Mode, Supervisor
from callcenter.domain.routing import Agent
from callcenter.media import protocol as media
from callcenter.monitor.desk import Conversation, MonitorGranted
from callcenter.monitor.session import MonitorSession
from callcenter.monitor.sessions import MonitorSessions


class FakePool:
    def __init__(self) -> None:
        self.sent: list[tuple[str, media.Command]] = []
        self.released: list[str] = []
        self.calls = {"call-1": ("127.0.0.1", 4001), "leg-1": ("127.0.0.1", 4001),
                      "sup-1": ("127.0.0.1", 4002)}  # fmt: skip

    def send(self, call_id: str, command: media.Command) -> None:
        if call_id not in self.calls:
            raise KeyError(call_id)
        self.sent.append((call_id, command))

    def tap_address(self, call_id: str) -> tuple[str, int] | None:
        return self.calls.get(call_id)

    def release(self, call_id: str) -> None:
        self.released.append(call_id)


class FakeEvents:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, dict[str, Any]]] = []

    def append(self, event_type: str, call_id: str, **data: Any) -> None:
        self.appended.append((event_type, call_id, data))


def session(mode: Mode = Mode.LISTEN) -> tuple[MonitorSession, FakePool, FakeEvents]:
    granted = MonitorGranted(
        Supervisor("sue", "Sue", "sue"),
        Agent("ann", "Ann", "ann", {}, ()),
        mode,
        Conversation("call-1", "leg-1", "ann"),
    )
    pool, events = FakePool(), FakeEvents()
    return MonitorSession("sup-1", granted, pool, events, lambda: 100.0), pool, events


def test_answered_opens_both_ends_of_the_tap() -> None:
    s, pool, events = session(Mode.WHISPER)
    s.media_answered()
    (c_call, c_open), (s_call, s_open) = pool.sent
    assert isinstance(c_open, media.TapOpen) and isinstance(s_open, media.TapOpen)
    assert (c_call, c_open.peer_port, c_open.peer_tap) == ("call-1", 4002, s_open.tap)
    assert (s_call, s_open.peer_port, s_open.peer_tap) == ("sup-1", 4001, c_open.tap)
    assert c_open.listen_to == ("call-1", "leg-1") and c_open.talk_to == ("leg-1",)
    assert s_open.listen_to == ("sup-1",) and s_open.talk_to == ("sup-1",)
    assert events.appended == [
        ("monitor.started", "call-1",
         {"supervisor": "sue", "agent": "ann", "mode": "whisper", "supervisor_call": "sup-1"}),
    ]  # fmt: skip


def test_dtmf_switches_mode_and_only_mode_keys_count() -> None:
    s, pool, events = session(Mode.LISTEN)
    s.media_answered()
    pool.sent.clear()
    s.digit("1")
    s.digit("4")  # already listening
    assert pool.sent == []
    s.digit("6")
    (_, conversation), (_, supervisor) = pool.sent
    assert isinstance(conversation, media.TapSet) and isinstance(supervisor, media.TapSet)
    assert conversation.talk_to == ("call-1", "leg-1")
    assert supervisor.listen_to == ("sup-1",)
    assert events.appended[-1][0] == "monitor.mode"
    assert events.appended[-1][2]["mode"] == "barge"
    assert events.appended[-1][2]["previous"] == "listen"


def test_the_conversation_ending_hangs_up_the_supervisor_and_closes_the_taps() -> None:
    s, pool, events = session()
    sessions = MonitorSessions(pool)
    sessions.add(s)
    assert sessions.on_media_event({"ev": "answered", "call": "sup-1"})
    pool.sent.clear()
    assert not sessions.on_media_event({"ev": "hangup", "call": "leg-1", "code": 200,
                                        "reason": "", "by": "remote"})  # fmt: skip
    kinds = [(call, type(command).__name__) for call, command in pool.sent]
    assert kinds == [("call-1", "TapClose"), ("sup-1", "TapClose"), ("sup-1", "Hangup")]
    assert sessions.on_media_event({"ev": "hangup", "call": "sup-1", "code": 200,
                                    "reason": "", "by": "local"})  # fmt: skip
    assert pool.released == ["sup-1"] and sessions.sessions == {}
    assert events.appended[-1][0] == "monitor.stopped"
    assert events.appended[-1][2]["reason"] == "conversation ended"


def test_the_supervisor_hanging_up_leaves_the_conversation_alone() -> None:
    s, pool, events = session()
    sessions = MonitorSessions(pool)
    sessions.add(s)
    sessions.on_media_event({"ev": "answered", "call": "sup-1"})
    pool.sent.clear()
    sessions.on_media_event({"ev": "hangup", "call": "sup-1", "code": 200, "reason": "",
                             "by": "remote"})  # fmt: skip
    assert all(isinstance(c, media.TapClose) for _, c in pool.sent)  # no hangup of anyone
    assert events.appended[-1][2]["reason"] == "supervisor hung up"


def test_a_dead_worker_ends_the_session_and_the_supervisors_dialog() -> None:
    s, pool, events = session()
    aborted: list[tuple[str, str]] = []
    sessions = MonitorSessions(pool, abort_dialog=lambda call, why: aborted.append((call, why)))
    sessions.add(s)
    sessions.on_media_event({"ev": "answered", "call": "sup-1"})
    del pool.calls["sup-1"]  # its worker is gone
    sessions.calls_lost(["sup-1"])
    assert aborted == [("sup-1", "media worker crashed")]
    assert sessions.sessions == {}
    assert events.appended[-1][0] == "monitor.stopped"


def test_stopping_the_service_hangs_up_every_supervisor() -> None:
    s, pool, events = session()
    sessions = MonitorSessions(pool)
    sessions.add(s)
    sessions.on_media_event({"ev": "answered", "call": "sup-1"})
    sessions.hang_up_all()
    assert isinstance(pool.sent[-1][1], media.Hangup)
    sessions.on_media_event({"ev": "hangup", "call": "sup-1", "code": 200, "reason": "",
                             "by": "local"})  # fmt: skip
    assert events.appended[-1][2]["reason"] == "service stopping"


def test_keys_after_the_conversation_ended_change_nothing() -> None:
    s, pool, events = session()
    s.media_answered()
    s.conversation_ended()
    pool.sent.clear()
    s.digit("6")
    assert pool.sent == [] and events.appended[-1][0] == "monitor.started"
