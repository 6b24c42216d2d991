"""The recording service's decisions, with a fake pool and event log (the real ones are in
tests/e2e/test_recording.py): policy, pause/resume rules, agent keys, alarms, the watch."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, succeed

from callcenter.media import protocol as media
from callcenter.recording.files import Finished, RecordingError
from callcenter.recording.service import RecordingService, RecordingStateError


class Pool:
    def __init__(self) -> None:
        self.sent: list[media.Command] = []
        self.gone: set[str] = set()

    def send(self, call_id: str, command: media.Command) -> None:
        if call_id in self.gone:
            raise LookupError(call_id)
        self.sent.append(command)


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, dict[str, Any]]] = []

    def append(self, event_type: str, call_id: str, **data: Any) -> None:
        self.log.append((event_type, call_id, data))

    def types(self) -> list[str]:
        return [t for t, _, _ in self.log]


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


Built = tuple[RecordingService, Pool, Events, Clock]


def _service(tmp_path: Path, policy: str = "always", **kwargs: Any) -> Built:
    pool, events, clock = Pool(), Events(), Clock()
    saved: list[Finished] = []

    def save(finished: Finished) -> Deferred[dict[str, Any]]:
        saved.append(finished)
        return succeed({"file": "f.wav", "sha256": "ab", "duration": 1.0, "url": "/u"})

    service = RecordingService(
        tmp_path / "rec", tmp_path / "rec" / ".spool", {"billing": policy}, pool, events,
        kwargs.pop("saver", save), clock, **kwargs,
    )  # fmt: skip
    return service, pool, events, clock


def _started(service: RecordingService, call_id: str = "c1") -> None:
    service.conversation_started(call_id, "leg-1", "+4420", "ann", "billing")
    service.on_event({"ev": "record_started", "call": call_id})


def test_a_bridged_call_is_recorded_and_saved(tmp_path: Path) -> None:
    service, pool, events, clock = _service(tmp_path)
    _started(service)
    record = pool.sent[0]
    assert isinstance(record, media.Record) and (record.left, record.right) == ("c1", "leg-1")
    clock.now += 5
    service.on_event({"ev": "recorded", "call": "c1", "left_file": record.left_file,
                      "right_file": record.right_file, "seconds": 5.0})  # fmt: skip
    assert events.types() == ["recording.started", "recording.saved"]
    assert service.healthy and service.saved == 1 and not service.active


def test_never_and_a_seeded_percentage(tmp_path: Path) -> None:
    service, pool, _, _ = _service(tmp_path, "never")
    _started(service)
    assert pool.sent == [] and not service.active
    draws = random.Random(3)
    service, pool, _, _ = _service(tmp_path, "50%", rng=random.Random(3))
    for n in range(20):
        service.conversation_started(f"c{n}", f"leg-{n}", "1", "ann", "billing")
    assert len(pool.sent) == sum(draws.random() < 0.5 for _ in range(20))


def test_pause_and_resume_refuse_what_does_not_apply(tmp_path: Path) -> None:
    service, pool, events, clock = _service(tmp_path)
    with pytest.raises(RecordingStateError) as missing:
        service.pause("c1", "supervisor")
    assert (missing.value.error_id, missing.value.status) == ("recording-not-found", 404)
    _started(service)
    with pytest.raises(RecordingStateError, match="not paused"):
        service.resume("c1", "supervisor")
    service.pause("c1", "supervisor")
    with pytest.raises(RecordingStateError, match="already paused"):
        service.pause("c1", "ann")
    clock.now += 2.5
    service.resume("c1", "ann")
    assert [type(c).__name__ for c in pool.sent] == ["Record", "PauseRecord", "ResumeRecord"]
    resumed = events.log[-1]
    assert resumed[0] == "recording.resumed" and resumed[2]["seconds"] == 2.5


def test_the_agent_keys_pause_and_resume(tmp_path: Path) -> None:
    service, _, events, _ = _service(tmp_path)
    _started(service)
    for digit in "5*1":  # a stray key first
        service.agent_digit("c1", "ann", digit)
    assert events.log[-1][0] == "recording.paused" and events.log[-1][2]["via"] == "dtmf"
    for digit in "*1*2":  # pause again while paused: ignored, then resume
        service.agent_digit("c1", "ann", digit)
    assert events.types()[-2:] == ["recording.paused", "recording.resumed"]
    service.agent_digit("other-call", "ann", "*")  # not recorded: nothing happens


def test_failures_raise_the_alarm_and_a_save_clears_it(tmp_path: Path) -> None:
    def broken(_: Finished) -> Deferred[dict[str, Any]]:
        return fail(RecordingError("cannot write /r/x.wav: No space left on device"))

    service, pool, events, _ = _service(tmp_path, saver=broken)
    _started(service)
    service.on_event({"ev": "recorded", "call": "c1", "left_file": "/l", "right_file": "/r",
                      "seconds": 3.0})  # fmt: skip
    reason = "cannot write /r/x.wav: No space left on device"
    assert events.log[-1] == ("recording.failed", "c1", {"reason": reason})
    assert not service.healthy and service.failures == 1
    service.conversation_started("c2", "leg-2", "1", "ann", "billing")
    service.on_event({"ev": "error", "call": "c2", "cmd": "record", "message": "no disk"})
    assert "could not start: no disk" in events.log[-1][2]["reason"] and service.failures == 2
    pool.gone.add("c3")
    service.conversation_started("c3", "leg-3", "1", "ann", "billing")
    assert service.failures == 3 and "c3" not in service.active
    service.calls_lost([])
    _started(service, "c4")
    service.calls_lost(["c4"])
    assert events.log[-1] == ("recording.failed", "c4", {"reason": "media worker crashed"})


def test_the_watch_alarms_once_when_a_track_stops_growing(tmp_path: Path) -> None:
    sizes: list[list[int | None]] = []

    def read(paths: list[Path]) -> Deferred[list[int | None]]:
        return succeed(sizes.pop(0))

    service, _, events, clock = _service(tmp_path, sizes=read)
    _started(service)
    clock.now += 4.0
    sizes.append([44 + 16000 * 4, 44 + 16000 * 3])  # the agent's lags by a buffer: fine
    service.watch()
    assert service.healthy
    clock.now += 5.0
    sizes.append([44 + 16000 * 9, 44 + 16000 * 5])  # 5 s of 9: stopped growing
    service.watch()
    assert not service.healthy and "agent track holds 5.0 s of 9.0 s" in events.log[-1][2]["reason"]
    service.watch()  # no second alarm (and no read) for a failed recording
    service.on_event({"ev": "recorded", "call": "c1", "left_file": "/l", "right_file": "/r",
                      "seconds": 12.0})  # fmt: skip
    assert events.types().count("recording.failed") == 1 and "recording.saved" not in events.types()


def test_the_ivr_part_is_recorded_until_the_bridge_when_asked(tmp_path: Path) -> None:
    service, pool, events, clock = _service(tmp_path)
    service.call_answered("c1", "+4420")
    assert pool.sent == []  # off by default
    service, pool, events, clock = _service(tmp_path, ivr_leg=True)
    service.call_answered("c1", "+4420")
    ivr = pool.sent[0]
    assert isinstance(ivr, media.RecordIvr) and (ivr.call, ivr.leg) == ("c1#ivr", "c1")
    service.on_event({"ev": "record_started", "call": "c1#ivr"})
    with pytest.raises(RecordingStateError):  # the IVR part is not paused from the API
        service.pause("c1", "supervisor")
    clock.now += 3
    _started(service)
    assert [type(c).__name__ for c in pool.sent] == ["RecordIvr", "StopRecord", "Record"]
    service.on_event({"ev": "recorded", "call": "c1#ivr", "left_file": ivr.left_file,
                      "right_file": ivr.right_file, "seconds": 3.0})  # fmt: skip
    assert events.types() == ["recording.ivr_started", "recording.started", "recording.ivr_saved"]
    assert events.log[0][1] == "c1" and "c1" in service.active
