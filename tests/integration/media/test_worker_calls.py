"""Real workers, real SIP: sipp and the pjsua2 test phone call a worker the pool started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import threads

from tests.integration.media.conftest import Controller, Event, SippCall, pool_settings
from tests.support.audio import analyze
from tests.support.phone import PhoneResult, run_phone


def play_then_hang_up(prompt: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="play", files=[str(prompt)], token="welcome")
        elif event["ev"] == "play_done":
            ctl.send(event["call"], cmd="hangup")

    return script


@pytest_twisted.inlineCallbacks
def test_sipp_caller_through_a_record_route_hears_prompt_then_gets_bye(
    prompt: Path, tmp_path: Path
) -> Any:
    ctl = Controller(pool_settings(spare_workers=0), on=play_then_hang_up(prompt))
    sipp = None
    try:
        address = yield ctl.pool.reserve("rr-call-1")
        sipp = SippCall(address, "rr-call", tmp_path)
        code = yield sipp.wait()
        assert code == 0, sipp.error_text()
        call = "rr-call-1"
        kinds = [e["ev"] for e in ctl.events if e.get("call") == call]
        assert kinds == ["incoming", "answered", "play_done", "hangup"]
        incoming = ctl.of("incoming", call)[0]
        assert "+15550001" in incoming["from"] and "ivr@" in incoming["to"]
        assert ctl.of("play_done", call)[0]["token"] == "welcome"
        assert ctl.of("hangup", call)[0]["by"] == "local"
        assert ctl.pool.stats().calls == 0, "the worker's hangup released the reservation"
    finally:
        if sipp is not None:
            sipp.kill()
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_phone_hears_the_prompt_and_bad_commands_do_not_hurt(prompt: Path, tmp_path: Path) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            call = event["call"]
            ctl.pool.send(call, {"cmd": "play", "call": call, "files": ["/nope.wav"], "token": "x"})
            ctl.pool.send(call, {"cmd": "hangup", "call": "not-a-call"})
            ctl.send(call, cmd="play", files=[str(prompt)], token="welcome")

    ctl = Controller(pool_settings(), on=script)
    try:
        yield ctl.pool.start()
        (worker,) = ctl.pool.workers()
        record = tmp_path / "heard.wav"
        result: PhoneResult = yield threads.deferToThread(
            run_phone, f"sip:ivr@127.0.0.1:{worker.sip_port}", duration=5.0, record_to=record
        )
        assert result.error is None, result.stderr
        assert (result.status_code, result.hangup_by) == (200, "local")
        assert 4.5 < result.connected_seconds < 6.5
        yield ctl.wait_event("hangup")
        errors = ctl.of("error")
        assert [e["cmd"] for e in errors] == ["play", "hangup"]
        assert "/nope.wav" in errors[0]["message"]
        assert ctl.of("play_done")[0]["token"] == "welcome"
        assert ctl.of("hangup")[0]["by"] == "remote"

        heard, sent = analyze(record), analyze(prompt)
        assert heard.first_sound is not None and heard.first_sound < 0.5
        assert abs(heard.sound_seconds - sent.sound_seconds) < 0.4, (heard, sent)
        assert heard.last_sound is not None and heard.last_sound < sent.duration + 0.6
        assert heard.rms > 300
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_dtmf_by_rfc4733_and_by_sip_info_and_play_replacement(prompt: Path, tmp_path: Path) -> Any:
    from callcenter.media.moh import default_hold_music

    music = default_hold_music(tmp_path)

    def script(ctl: Controller, event: Event) -> None:
        if event["ev"] == "answered":
            ctl.send(event["call"], cmd="play", files=[str(music)], token="moh", loop=True)
        elif event["ev"] == "dtmf" and len(ctl.of("dtmf")) == 1:
            ctl.send(event["call"], cmd="play", files=[str(prompt), str(prompt)], token="menu")

    ctl = Controller(pool_settings(), on=script)
    try:
        yield ctl.pool.start()
        (worker,) = ctl.pool.workers()
        result: PhoneResult = yield threads.deferToThread(
            run_phone,
            f"sip:ivr@127.0.0.1:{worker.sip_port}",
            dtmf=[
                (0.5, "1", "rfc4733"),
                (1.0, "#", "info"),
                (1.5, "9", "info"),
                (2.0, "*", "rfc4733"),
            ],
            duration=8.0,  # the two-prompt playlist (~5.5 s) must finish first
        )
        assert result.answered, result.stderr
        yield ctl.wait_event("hangup")
        digits = [(e["digit"], e["method"]) for e in ctl.of("dtmf")]
        assert digits == [("1", "rfc4733"), ("#", "info"), ("9", "info"), ("*", "rfc4733")]
        # looped music never reports play_done; the two-file playlist that replaced it does
        assert [e["token"] for e in ctl.of("play_done")] == ["menu"]
    finally:
        yield ctl.pool.stop()
