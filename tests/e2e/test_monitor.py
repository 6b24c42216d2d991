"""Supervisors listen to, whisper to and barge into a live call from their own softphones.

Everything is real: the service, SIP, RTP, the media workers and the audio tap between them.
The caller plays 440 Hz and the agent 1000 Hz; three supervisor phones, each authenticated
with digest, play their own tone so every recording tells who reached whom: listen 1500 Hz,
whisper 1800 Hz (dialled as listen, switched with DTMF 5), barge 2200 Hz. The three sessions
run at once, on the conversation's worker and on other workers (each supervisor call takes a
place where the pool puts it), so both the same-worker and the cross-worker tap are used.
"""

from __future__ import annotations

import array
import json
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.audio import analyze, tone, tone_seconds
from tests.support.phone import RunningPhone, start_agent_phone, start_phone
from tests.support.service import AGENT_TOKEN, SUPERVISOR_TOKEN, Service, running_service

pytestmark = pytest.mark.e2e

AGENT_PASSWORD = "agent-pass-123"
SUPERVISOR_PASSWORD = "super-visor-456"
CALLER_HZ, AGENT_HZ = 440, 1000
LISTEN_HZ, WHISPER_HZ, BARGE_HZ = 1500, 1800, 2200
FLOW = """\
version: 1
start: queue
nodes:
  queue: {type: queue, queue: billing}
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("monitor")
    flows = tmp / "flows"
    flows.mkdir()
    (flows / "monitor.yaml").write_text(FLOW)
    settings: dict[str, Any] = {
        "flows_dir": str(flows),
        "numbers": {"100": "monitor.yaml"},
        "queues": {"billing": {"ring_timeout_seconds": 10, "wrap_up_seconds": 1}},
        "agents": [
            {"id": "ann", "name": "Ann", "password": AGENT_PASSWORD, "queues": ["billing"]},
            {"id": "bob", "name": "Bob", "password": AGENT_PASSWORD, "queues": ["billing"]},
        ],
        "supervisors": [
            {"id": "sue", "name": "Sue", "password": SUPERVISOR_PASSWORD},
            {"id": "sam", "name": "Sam", "password": SUPERVISOR_PASSWORD},  # never registers
        ],
        # Silent hold music: every tone in the caller's recording then comes from a person.
        "media": {"hold_music": str(tone(tmp / "silence.wav", 0, seconds=1.0))},
    }
    with running_service(tmp, settings=settings) as running:
        yield running


def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _status(service: Service, agent_id: str) -> str:
    status, body = service.api(f"/api/agents/{agent_id}")
    assert status == 200, body
    return str(body["status"])


def _log_in(service: Service, agent_id: str) -> None:
    """Available, whatever an earlier test of this module left (logged in, in wrap-up)."""
    status, body = service.api(f"/api/agents/{agent_id}/login", method="POST", body={})
    assert status == 200 or body["error_id"] == "agent-logged-in", body
    _until(lambda: _status(service, agent_id) == "available")


def _supervisor(
    service: Service,
    tmp_path: Path,
    dialled: str,
    hz: int,
    duration: float,
    *,
    password: str = SUPERVISOR_PASSWORD,
    username: str = "sue",
    dtmf: list[tuple[float, str, str]] | None = None,
) -> RunningPhone:
    return start_phone(
        f"sip:{dialled}@{service.sip_uri_host}",
        auth=(username, password),
        play=tone(tmp_path / f"sup-{hz}.wav", hz),
        loop=True,
        record_to=tmp_path / f"sup-{hz}-heard.wav",
        duration=duration,
        dtmf=dtmf or [],
    )


def _recording_tracks(service: Service, call_id: str, tmp_path: Path) -> tuple[Path, Path]:
    """The call's recording, once written, split into its left and right channels."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", call_id)
    root = service.config_path.parent

    def sidecar() -> Path | None:
        return next(root.rglob(f"recordings/**/{safe}.json"), None)

    wav = _until(sidecar).with_suffix(".wav")
    with wave.open(str(wav), "rb") as stereo:
        assert stereo.getnchannels() == 2
        rate, frames = stereo.getframerate(), stereo.readframes(stereo.getnframes())
    samples = array.array("h", frames)
    tracks = []
    for channel, name in enumerate(("left", "right")):
        path = tmp_path / f"recording-{name}.wav"
        with wave.open(str(path), "wb") as mono:
            mono.setnchannels(1)
            mono.setsampwidth(2)
            mono.setframerate(rate)
            mono.writeframes(samples[channel::2].tobytes())
        tracks.append(path)
    return tracks[0], tracks[1]


def _events(service: Service, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    client = redis.Redis(
        unix_socket_path=str(service.data_dir / "redis" / "redis.sock"), decode_responses=True
    )
    try:
        entries: list[tuple[str, dict[str, str]]] = client.xrange("cc:events")  # type: ignore[assignment]
    finally:
        client.close()
    return [
        (fields["type"], json.loads(fields["data"]))
        for _, fields in entries
        if fields["call_id"] == call_id and fields["type"].startswith("monitor.")
    ]


def test_listen_whisper_and_barge_reach_exactly_the_right_people(
    service: Service, tmp_path: Path
) -> None:
    ann = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username="ann",
        password=AGENT_PASSWORD,
        play=tone(tmp_path / "agent.wav", AGENT_HZ),
        record_to=tmp_path / "agent-heard.wav",
        answer_after=0.5,
        wait=40,
        duration=60,
    )
    assert ann.wait_ready().get("registered")
    _log_in(service, "ann")
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}",
        play=tone(tmp_path / "caller.wav", CALLER_HZ),
        loop=True,
        record_to=tmp_path / "caller-heard.wav",
        duration=22.0,
    )
    phones = [ann, caller]
    try:
        _until(lambda: _status(service, "ann") == "on-call")
        listen = _supervisor(service, tmp_path, "*50ann", LISTEN_HZ, duration=6.0)
        whisper = _supervisor(
            service, tmp_path, "*50ann", WHISPER_HZ, 60.0, dtmf=[(1.0, "5", "rfc4733")]
        )
        barge = _supervisor(service, tmp_path, "*52ann", BARGE_HZ, 60.0)
        phones += [listen, whisper, barge]
        heard_listen, heard_whisper, heard_barge = (p.wait() for p in (listen, whisper, barge))
        talked = caller.wait()
        agent = ann.wait_agent()
    finally:
        for phone in phones:
            phone.kill()

    # The supervisor that hung up first did not end the conversation: the caller hung up on
    # its own schedule, 22 s after answering.
    assert talked.hangup_by == "local" and talked.connected_seconds >= 21.5, talked
    assert agent.answered and agent.hangup_by == "remote", agent
    assert heard_listen.answered and heard_listen.hangup_by == "local", heard_listen
    # The conversation's end ended the other two sessions.
    for result in (heard_whisper, heard_barge):
        assert result.answered and result.hangup_by == "remote", result
    assert heard_whisper.dtmf_sent == ["5:rfc4733"]

    # Every supervisor hears both sides, whatever the mode.
    for hz in (LISTEN_HZ, WHISPER_HZ, BARGE_HZ):
        heard = tmp_path / f"sup-{hz}-heard.wav"
        assert tone_seconds(heard, CALLER_HZ) >= 2.0, (hz, "caller not heard")
        assert tone_seconds(heard, AGENT_HZ) >= 2.0, (hz, "agent not heard")
    caller_heard, agent_heard = tmp_path / "caller-heard.wav", tmp_path / "agent-heard.wav"
    # Listen: nobody hears that supervisor.
    assert tone_seconds(caller_heard, LISTEN_HZ) == 0
    assert tone_seconds(agent_heard, LISTEN_HZ) == 0
    # Whisper: the agent hears it, the caller does not.
    assert tone_seconds(agent_heard, WHISPER_HZ) >= 2.0
    assert tone_seconds(caller_heard, WHISPER_HZ) == 0
    # Barge: both hear it, and still hear each other.
    assert tone_seconds(agent_heard, BARGE_HZ) >= 2.0
    assert tone_seconds(caller_heard, BARGE_HZ) >= 2.0
    assert tone_seconds(caller_heard, AGENT_HZ) >= 10.0
    assert tone_seconds(agent_heard, CALLER_HZ) >= 10.0

    # The audit trail, on the monitored call.
    call_id = talked.call_id
    assert call_id is not None

    def all_stopped() -> list[tuple[str, dict[str, Any]]] | None:
        found = _events(service, call_id)
        return found if sum(t == "monitor.stopped" for t, _ in found) == 3 else None

    events = _until(all_stopped)
    # The recording (stereo: caller left, agent right) has the barging supervisor on the
    # agent's side, as the caller heard it; a whisper or a listener is not in it.
    caller_track, agent_track = _recording_tracks(service, call_id, tmp_path)
    assert tone_seconds(agent_track, BARGE_HZ) >= 2.0
    assert tone_seconds(agent_track, AGENT_HZ) >= 10.0
    assert tone_seconds(agent_track, WHISPER_HZ) == tone_seconds(agent_track, LISTEN_HZ) == 0
    assert tone_seconds(caller_track, CALLER_HZ) >= 10.0
    assert tone_seconds(caller_track, BARGE_HZ) == 0
    started = sorted(d["mode"] for t, d in events if t == "monitor.started")
    assert started == ["barge", "listen", "listen"]
    assert all(d["supervisor"] == "sue" and d["agent"] == "ann" for _, d in events)
    assert [(d["mode"], d["previous"]) for t, d in events if t == "monitor.mode"] == [
        ("whisper", "listen")
    ]
    stopped = sorted(d["reason"] for t, d in events if t == "monitor.stopped")
    assert stopped == ["conversation ended", "conversation ended", "supervisor hung up"]


def test_who_may_monitor_and_what_can_be_monitored(service: Service, tmp_path: Path) -> None:
    # A wrong password never gets past the challenge.
    wrong = _supervisor(service, tmp_path, "*50ann", LISTEN_HZ, 2.0, password="not-the-one")
    result = wrong.wait()
    assert not result.answered and result.status_code in (403, 407), result
    # An agent's own, valid credentials are not a supervisor's.
    agent = _supervisor(service, tmp_path, "*50bob", LISTEN_HZ, 2.0, username="bob",
                        password=AGENT_PASSWORD)  # fmt: skip
    result = agent.wait()
    assert not result.answered and result.status_code == 403, result
    # A supervisor asking for nobody, or for an agent not on a call, is told so and hung up.
    for dialled, hz in (("*51nobody", 1700), ("*52ann", 1900)):
        phone = _supervisor(service, tmp_path, dialled, hz, 20.0)
        result = phone.wait()
        assert result.answered and result.hangup_by == "remote", (dialled, result)
        assert analyze(tmp_path / f"sup-{hz}-heard.wav").sound_seconds >= 1.0, dialled


def test_the_api_rings_a_supervisors_phone_into_a_call(service: Service, tmp_path: Path) -> None:
    ann = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username="ann",
        password=AGENT_PASSWORD,
        play=tone(tmp_path / "agent.wav", AGENT_HZ),
        record_to=tmp_path / "agent-heard.wav",
        answer_after=0.5,
        wait=40,
        duration=60,
    )
    assert ann.wait_ready().get("registered")
    sue = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username="sue",
        password=SUPERVISOR_PASSWORD,
        play=tone(tmp_path / "sue.wav", WHISPER_HZ),
        record_to=tmp_path / "sue-heard.wav",
        answer_after=0.5,
        wait=40,
        duration=60,
    )
    assert sue.wait_ready().get("registered")
    _log_in(service, "ann")
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}",
        play=tone(tmp_path / "caller.wav", CALLER_HZ),
        loop=True,
        record_to=tmp_path / "caller-heard.wav",
        duration=14.0,
    )
    phones = [ann, sue, caller]
    try:
        _until(lambda: _status(service, "ann") == "on-call")
        status, agent_view = service.api("/api/agents/ann")
        call_id = agent_view["call_id"]

        def monitor(body: Any, token: str = SUPERVISOR_TOKEN, call: str = call_id) -> Any:
            return service.api(f"/api/calls/{call}/monitor", token, "POST", body)

        assert monitor({"supervisor": "sue"}, token=AGENT_TOKEN)[0] == 403
        assert monitor({"supervisor": "zed"})[1]["error_id"] == "supervisor-not-found"
        assert monitor({"supervisor": "sue", "mode": "shout"})[1]["error_id"] == (
            "invalid-monitor-mode"
        )
        assert monitor({"supervisor": "sam"})[1]["error_id"] == "supervisor-not-registered"
        assert monitor({"supervisor": "sue"}, call="no-such-call")[0] == 409
        status, ringing = monitor({"supervisor": "sue", "mode": "whisper"})
        assert status == 202, ringing
        assert (ringing["agent"], ringing["mode"], ringing["state"]) == (
            "ann",
            "whisper",
            "ringing",
        )
        talked, rung = caller.wait(), sue.wait_agent()
        ann.wait_agent()
    finally:
        for phone in phones:
            phone.kill()
    assert rung.answered and rung.hangup_by == "remote", rung  # ended with the conversation
    assert rung.from_display == "Whisper: Ann"
    assert tone_seconds(tmp_path / "sue-heard.wav", CALLER_HZ) >= 2.0
    assert tone_seconds(tmp_path / "sue-heard.wav", AGENT_HZ) >= 2.0
    assert tone_seconds(tmp_path / "agent-heard.wav", WHISPER_HZ) >= 2.0
    assert tone_seconds(tmp_path / "caller-heard.wav", WHISPER_HZ) == 0
    assert talked.call_id == call_id
    started = _until(lambda: [d for t, d in _events(service, call_id) if t == "monitor.started"])
    assert started[0]["supervisor_call"] == ringing["monitor"]
