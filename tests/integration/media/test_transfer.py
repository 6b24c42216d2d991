"""Blind transfer by a real worker: sipp callers that accept or reject the REFER."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import threads
from twisted.internet.defer import gatherResults

from tests.integration.media.conftest import Controller, Event, pool_settings
from tests.support.ports import free_port
from tests.support.sipp import SippResult, SippRun, scenario


def _caller(name: str, worker: tuple[str, int], tmp_path: Path, call_id: str) -> SippRun:
    return SippRun(
        scenario(name),
        tmp_path / name,
        local=("127.0.0.1", free_port()),
        remote=worker,
        media_port=free_port(),
        extra_args=["-cid_str", call_id],
    )


@pytest_twisted.inlineCallbacks
def test_a_caller_that_accepts_the_refer_leaves_with_a_transferred_event(tmp_path: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="transfer", target="1001")

    ctl = Controller(pool_settings(spare_workers=0), on=script)
    try:
        worker = yield ctl.pool.reserve("xfer-ok")
        run = _caller("uac_refer_accept", worker, tmp_path, "xfer-ok")
        result: SippResult = yield threads.deferToThread(run.run)
        assert result.ok, result.describe()
        yield ctl.wait_event("hangup", "xfer-ok")
        kinds = [e["ev"] for e in ctl.events if e.get("call") == "xfer-ok"]
        assert kinds == ["incoming", "answered", "transferred", "hangup"]
        uri = f"sip:1001@127.0.0.1:{worker[1]}"  # bare target: the host:port the caller dialled
        assert ctl.of("transferred")[0] == {
            "ev": "transferred",
            "call": "xfer-ok",
            "target": uri,
            "status": 200,
        }
        assert re.search(rf"^Refer-To: <?{re.escape(uri)}>?$", result.message_log(), re.M)
        assert ctl.of("hangup")[0]["by"] == "remote"  # the caller's own BYE
        assert ctl.of("error") == []
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_a_caller_that_keeps_its_leg_after_the_transfer_gets_our_bye(tmp_path: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="transfer", target="sip:desk@192.0.2.10")

    ctl = Controller(pool_settings(spare_workers=0), on=script)
    try:
        worker = yield ctl.pool.reserve("xfer-stay")
        run = _caller("uac_refer_accept_stay", worker, tmp_path, "xfer-stay")
        result: SippResult = yield threads.deferToThread(run.run)
        assert result.ok, result.describe()
        transferred, hangup = yield gatherResults(
            [ctl.wait_event("transferred"), ctl.wait_event("hangup")]
        )
        assert transferred["target"] == "sip:desk@192.0.2.10"  # a full URI is used as it is
        assert transferred["status"] == 200
        assert hangup["by"] == "local"
        assert [e["ev"] for e in ctl.events if e.get("call") == "xfer-stay"][-2:] == [
            "transferred",
            "hangup",
        ]
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_a_caller_that_rejects_the_refer_stays_with_us(prompt: Path, tmp_path: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        call = event.get("call")
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="transfer", target="sip:sales@192.0.2.10:5060")
        elif event["ev"] == "transfer_failed":
            # The application decides: here an apology, then goodbye. The apology is only
            # heard (play_done) if the call really stayed up after the failed transfer.
            ctl.send(event["call"], cmd="play", files=[str(prompt)], token="sorry")
        elif event["ev"] == "play_done" and call is not None:
            ctl.send(call, cmd="hangup")

    ctl = Controller(pool_settings(spare_workers=0), on=script)
    try:
        worker = yield ctl.pool.reserve("xfer-no")
        run = _caller("uac_refer_reject", worker, tmp_path, "xfer-no")
        result: SippResult = yield threads.deferToThread(run.run)
        assert result.ok, result.describe()
        yield ctl.wait_event("hangup", "xfer-no")
        kinds = [e["ev"] for e in ctl.events if e.get("call") == "xfer-no"]
        assert kinds == ["incoming", "answered", "transfer_failed", "play_done", "hangup"]
        assert ctl.of("transfer_failed")[0] == {
            "ev": "transfer_failed",
            "call": "xfer-no",
            "target": "sip:sales@192.0.2.10:5060",
            "code": 405,
            "reason": "Method Not Allowed",
        }
        assert ctl.of("hangup")[0]["by"] == "local"
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_transfer_of_an_unanswered_call_is_an_error_not_a_refer(tmp_path: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "incoming":
            ctl.send(event["call"], cmd="transfer", target="1001")
            ctl.send(event["call"], cmd="hangup", code=486)

    ctl = Controller(pool_settings(spare_workers=0), answer=False, on=script)
    try:
        worker = yield ctl.pool.reserve("xfer-early")
        run = _caller("uac_refer_reject", worker, tmp_path, "xfer-early")
        result: SippResult = yield threads.deferToThread(run.run)
        assert not result.ok  # the caller was refused with 486, as the controller said
        yield ctl.wait_event("hangup", "xfer-early")
        (error,) = ctl.of("error")
        assert error["cmd"] == "transfer" and "not answered" in error["message"]
        assert ctl.of("transfer_failed") == [] and ctl.of("transferred") == []
    finally:
        yield ctl.pool.stop()
