"""A transfer node: the record says ``transferred`` only once the caller's phone took it, and a
refused transfer ends the call as ``failed`` with the SIP answer as its reason."""

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
from tests.unit.calls.test_session import FakeMedia, MemoryJournal

FLOW = """\
version: 1
start: hello
nodes:
  hello: {type: say, say: "Transferring you now.", on: {done: desk}}
  desk: {type: transfer, target: "{target}"}
"""


def _session(
    tmp_path: Path, target: str = "1001"
) -> tuple[CallSession, FakeMedia, MemoryJournal, Clock]:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.replace("{target}", target))
    clock = Clock()
    media, journal = FakeMedia(), MemoryJournal()

    def render_in_test(function: Any, *args: Any) -> Deferred[Path]:
        return succeed(Path(f"/cache/{abs(hash(args[0]))}.wav"))

    prompts = PromptFiles(tmp_path, lambda *_: Path(), lambda *_: Path(), render_in_test)
    record = CallRecord("c1", "+4411", "", "100", arrived_at=0.0)
    ivr = IvrSession(
        load_flow(path),
        CallContext("c1", "+4411", "100"),
        lambda: datetime(2026, 1, 5, tzinfo=UTC),
    )
    session = CallSession(
        record, ivr, "flow.yaml", media, prompts, journal, clock, clock.seconds, Path("/moh.wav")
    )
    session.media_answered()
    session.playback_done(media.sent[-1]["token"])  # "Transferring you now." was heard
    return session, media, journal, clock


def _types(journal: MemoryJournal) -> list[str]:
    return [kind for kind, _ in journal.events]


def test_the_transfer_node_asks_the_worker_to_refer_but_is_not_yet_a_transfer(
    tmp_path: Path,
) -> None:
    session, media, journal, _ = _session(tmp_path)
    assert media.sent[-1] == {"cmd": "transfer", "call": "c1", "target": "1001"}
    assert ("call.transferring", {"target": "1001"}) in journal.events
    assert session.record.transfer_target == "1001"
    assert journal.saved[-1]["outcome"] == "in-progress"


def test_an_accepted_transfer_is_recorded_transferred_and_stays_so_after_the_bye(
    tmp_path: Path,
) -> None:
    session, _, journal, clock = _session(tmp_path)
    clock.advance(1)
    session.transferred("sip:1001@127.0.0.1:5060", 200)
    assert journal.saved[-1]["outcome"] == "transferred"
    assert journal.events[-1] == (
        "call.transferred",
        {"target": "1001", "uri": "sip:1001@127.0.0.1:5060", "status": 200},
    )
    session.media_ended("remote", 200, "Normal call clearing")
    record = journal.saved[-1]
    assert record["outcome"] == "transferred"
    assert record["transfer_target"] == "1001"
    assert record["end_node"] == "desk"
    assert record["ended_by"] == "caller"


def test_a_refused_refer_hangs_up_and_records_the_failure_with_the_sip_answer(
    tmp_path: Path,
) -> None:
    session, media, journal, clock = _session(tmp_path)
    clock.advance(2)
    session.transfer_failed(405, "Method Not Allowed")
    assert media.sent[-1]["cmd"] == "hangup"
    assert journal.events[-1] == (
        "call.transfer_failed",
        {"target": "1001", "code": 405, "reason": "Method Not Allowed"},
    )
    session.media_ended("local", 200, "Normal call clearing")  # our BYE, answered
    record = journal.saved[-1]
    assert record["outcome"] == "failed"
    assert record["end_reason"] == "transfer failed: 405 Method Not Allowed"
    assert record["ended_by"] == "system"
    assert record["end_node"] == "desk"
    assert journal.events[-1] == (
        "call.ended",
        {
            "outcome": "failed",
            "by": "system",
            "node": "desk",
            "reason": "transfer failed: 405 Method Not Allowed",
        },
    )


def test_a_target_the_worker_cannot_take_fails_at_once_instead_of_leaving_silence(
    tmp_path: Path,
) -> None:
    session, media, journal, _ = _session(tmp_path, target="sales desk")
    assert media.commands()[-1] == "hangup"
    assert session.record.outcome is Outcome.FAILED
    assert session.record.end_reason is not None
    assert session.record.end_reason.startswith("transfer failed: bad target")
    assert "call.transfer_failed" in _types(journal)


def test_a_caller_hanging_up_before_the_refer_is_answered_abandoned(tmp_path: Path) -> None:
    session, _, journal, _ = _session(tmp_path)
    session.media_ended("remote", 200, "BYE")
    assert journal.saved[-1]["outcome"] == "abandoned"
    assert journal.saved[-1]["transfer_target"] == "1001"


def test_a_late_failure_report_does_not_rewrite_a_finished_call(tmp_path: Path) -> None:
    session, media, _, _ = _session(tmp_path)
    session.media_ended("remote", 200, "BYE")
    sent = len(media.sent)
    session.transfer_failed(408, "Request Timeout")
    assert session.record.outcome is Outcome.ABANDONED
    assert len(media.sent) == sent
