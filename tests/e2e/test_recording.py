"""Recorded conversations, end to end: the real service, pjsua2 phones, the files on disk.

The caller plays a 440 Hz tone from its answer on; the agent's phone plays 1 s of silence
and then 1000 Hz from its answer on. So in the stereo recording the left channel (caller)
sounds from the start at 440 Hz, the right one (agent) starts about 1 s in at 1000 Hz, and a
pause is a stretch of silence in both, starting and ending at the same sample in both
channels (the two mono recorders are aligned).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.audio import (
    analyze,
    dominant_frequency,
    read_stereo,
    silent_stretches,
    tone,
    tone_after,
    tone_power_ratio,
    write_mono,
)
from tests.support.phone import DtmfStep, RunningPhone, start_agent_phone, start_phone
from tests.support.redis_server import RedisServer
from tests.support.service import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    SUPERVISOR_TOKEN,
    Service,
    running_service,
)

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"
ANN_TOKEN = "e2e-ann-token-0123456789"
TESS_TOKEN = "e2e-tess-token-0123456789"
BILLING: list[DtmfStep] = [(0.5, "1", "rfc4733")]
SUPPORT: list[DtmfStep] = [(0.5, "2", "rfc4733")]
AGENT_SILENCE = 1.0  # the agent's WAV starts with this much silence


def _settings(recordings: Path) -> dict[str, Any]:
    return {
        "flows_dir": str(FLOWS),
        "numbers": {"100": "ivr.yaml"},
        "queues": {
            "billing": {"ring_timeout_seconds": 8, "wrap_up_seconds": 1},
            "support": {"ring_timeout_seconds": 8, "wrap_up_seconds": 1, "recording": "never"},
        },
        "agents": [
            {"id": "ann", "password": PASSWORD, "queues": ["billing"]},
            {"id": "tess", "password": PASSWORD, "queues": ["support"], "skills": {"tech": 5}},
        ],
        "recording": {"directory": str(recordings)},
        "http": {
            "tokens": {
                ADMIN_TOKEN: "admin",
                SUPERVISOR_TOKEN: "supervisor",
                AGENT_TOKEN: "agent",
                ANN_TOKEN: "agent:ann",
                TESS_TOKEN: "agent:tess",
            }
        },
    }


def _events(url: str, call_id: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        entries = client.xrange("cc:events") or []
    finally:
        client.close()
    found = []
    for _, raw in entries:
        fields = {str(k): str(v) for k, v in (raw or {}).items()}
        if fields.get("call_id") == call_id:
            found.append({**fields, **json.loads(fields.get("data", "{}"))})
    return found


def _until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _health(service: Service) -> tuple[int, dict[str, Any]]:
    status, body = service.api("/healthz", token=None)
    return status, dict(body)


def _answering(service: Service) -> tuple[int, dict[str, Any]] | None:
    """The health answer once the HTTP API listens (a degraded service is still ready)."""
    try:
        return _health(service)
    except (urllib.error.URLError, ConnectionError):
        return None


def _recording_running(service: Service) -> bool:
    return bool(_health(service)[1]["recordings"]["active"])


def _agent(service: Service, name: str, tmp_path: Path, **options: Any) -> RunningPhone:
    phone = start_agent_phone(
        register=f"sip:{service.sip_uri_host}",
        username=name,
        password=PASSWORD,
        play=tone_after(tmp_path / f"{name}-1000.wav", 1000, AGENT_SILENCE, 20.0),
        record_to=tmp_path / f"{name}-heard.wav",
        answer_after=0.3,
        wait=40,
        **options,
    )
    assert phone.wait_ready().get("registered")
    status, body = service.api(f"/api/agents/{name}/login", method="POST", body={})
    assert status == 200, body
    return phone


def _caller(service: Service, tmp_path: Path, dtmf: list[DtmfStep]) -> RunningPhone:
    return start_phone(
        f"sip:100@{service.sip_uri_host}",
        dtmf=dtmf,
        play=tone(tmp_path / "caller-440.wav", 440),
        loop=True,
        duration=40.0,  # the agent hangs up first
    )


def _download(service: Service, call_id: str, token: str | None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.http_port}/api/recordings/{call_id}/audio"
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("content-type", "")


def _metrics(service: Service) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{service.http_port}/metrics")
    request.add_header("Authorization", f"Bearer {SUPERVISOR_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def _sidecar(service: Service, call_id: str) -> dict[str, Any]:
    def saved() -> dict[str, Any] | None:
        status, body = service.api(f"/api/recordings/{call_id}", token=SUPERVISOR_TOKEN)
        return dict(body) if status == 200 else None

    found: dict[str, Any] = _until(saved)
    return found


def _pause_stretch(
    left: list[int], right: list[int], rate: int, at: float, seconds: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The silent stretch of each channel that covers a pause ``at`` seconds into the file."""

    def covering(samples: list[int]) -> tuple[float, float]:
        runs = silent_stretches(samples, rate, min_seconds=seconds * 0.6)
        near = [r for r in runs if r[0] - 0.4 <= at <= r[1]]
        assert len(near) == 1, (runs, at)
        return near[0]

    return covering(left), covering(right)


def _check_stereo_file(path: Path, sidecar: dict[str, Any], keys: bool = False) -> None:
    """Caller left at 440 Hz from the start, agent right at 1000 Hz ~1 s in, each pause
    silent in both channels at the same samples and as long as the sidecar says.

    ``keys``: the agent paused with its keypad. Its phone sends RFC 4733 key events instead
    of audio while a key is down, so its channel falls silent from the first key of the code
    (up to ~0.5 s before the pause itself)."""
    left, right, rate = read_stereo(path)
    assert rate == 8000
    assert abs(len(left) / rate - sidecar["duration"]) < 0.01
    mid_left = left[int(0.3 * rate) : int(0.8 * rate)]  # before any pause, agent still silent
    assert tone_power_ratio(mid_left, rate, 440, 1000) > 100
    right_runs = silent_stretches(right, rate, min_seconds=0.3)
    assert right_runs and right_runs[0][0] == 0.0, right_runs
    # The agent's phone answered ~0.1-0.3 s before the recording started (bridge, command);
    # its audio reaches the recorder through the jitter buffer (a few tens of ms late).
    assert AGENT_SILENCE - 0.6 <= right_runs[0][1] <= AGENT_SILENCE + 0.15, right_runs
    late = int((AGENT_SILENCE + 0.2) * rate)
    assert tone_power_ratio(right[late : late + rate // 2], rate, 1000, 440) > 100
    for pause in sidecar["pauses"]:
        at = pause["at"] - sidecar["start"]
        (l_start, l_end), (r_start, r_end) = _pause_stretch(left, right, rate, at, pause["seconds"])
        if keys:
            assert 0 <= l_start - r_start <= 0.5 and r_end >= l_end - 0.041, (l_start, r_start)
        else:  # the same samples in both channels: the two tracks are aligned
            assert abs(l_start - r_start) <= 0.041 and abs(l_end - r_end) <= 0.041
        assert abs((l_end - l_start) - pause["seconds"]) <= 0.3, (l_start, l_end, pause)
        assert abs(l_start - at) <= 0.3, (l_start, at)


def test_a_conversation_is_recorded_in_stereo_and_a_supervisor_pause_is_silence(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recordings = tmp_path / "recordings"
    with running_service(tmp_path, redis_server.url, settings=_settings(recordings)) as service:
        ann = _agent(service, "ann", tmp_path, duration=7.0)
        caller = _caller(service, tmp_path, BILLING)
        _until(lambda: _recording_running(service))
        time.sleep(2.0)  # conversation before the pause
        call_id = _active_call(service)
        # Another agent's bound token may not pause it; nor a plain agent token.
        for token in (TESS_TOKEN, AGENT_TOKEN):
            status, body = service.api(
                f"/api/calls/{call_id}/recording/pause", token=token, method="POST", body={}
            )
            assert status == 403, body
        status, body = service.api(
            f"/api/calls/{call_id}/recording/pause", token=SUPERVISOR_TOKEN, method="POST", body={}
        )
        assert status == 200 and body["paused"] is True, body
        status, body = service.api(
            f"/api/calls/{call_id}/recording/pause", token=SUPERVISOR_TOKEN, method="POST", body={}
        )
        assert status == 409 and body["error_id"] == "recording-paused", body
        time.sleep(1.5)
        status, body = service.api(
            f"/api/calls/{call_id}/recording/resume", token=SUPERVISOR_TOKEN, method="POST", body={}
        )
        assert status == 200 and body["paused"] is False, body
        assert ann.wait_agent().connected_seconds >= 6.9
        result = caller.wait()
        assert result.call_id == call_id

        sidecar = _sidecar(service, call_id)
        assert sidecar["call_id"] == call_id
        assert sidecar["caller"] == "phone" and sidecar["agent"] == "ann"
        assert sidecar["queue"] == "billing"
        assert 5.5 <= sidecar["duration"] <= 7.2, sidecar
        assert abs(sidecar["end"] - sidecar["start"] - sidecar["duration"]) < 0.5
        assert len(sidecar["pauses"]) == 1 and sidecar["pauses"][0]["by"] == "supervisor"
        assert 1.3 <= sidecar["pauses"][0]["seconds"] <= 2.5, sidecar["pauses"]
        day = time.strftime("%Y/%m/%d", time.gmtime(sidecar["start"]))
        assert re.fullmatch(rf"{day}/[A-Za-z0-9._-]+\.wav", sidecar["file"]), sidecar["file"]
        on_disk = recordings / sidecar["file"]
        assert on_disk.with_suffix(".json").is_file()
        assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == sidecar["sha256"]
        _check_stereo_file(on_disk, sidecar)

        status, audio, kind = _download(service, call_id, SUPERVISOR_TOKEN)
        assert status == 200 and kind == "audio/wav"
        assert hashlib.sha256(audio).hexdigest() == sidecar["sha256"]
        assert _download(service, call_id, None)[0] == 401
        assert _download(service, call_id, ANN_TOKEN)[0] == 403  # even the agent on the call
        assert service.api(f"/api/recordings/{call_id}", token=AGENT_TOKEN)[0] == 403
        assert service.api("/api/recordings", token=ANN_TOKEN)[0] == 403
        assert service.api("/api/recordings", token=None)[0] == 401
        status, listing = service.api("/api/recordings?queue=billing&agent=ann", SUPERVISOR_TOKEN)
        assert status == 200 and [r["call_id"] for r in listing["recordings"]] == [call_id]
        assert service.api("/api/recordings?queue=support", SUPERVISOR_TOKEN)[1]["count"] == 0

        events = {e["type"]: e for e in _events(redis_server.url, call_id)}
        assert events["recording.started"]["agent"] == "ann"
        assert events["recording.started"]["path"] == sidecar["file"]
        assert events["recording.paused"]["by"] == "supervisor"
        assert events["recording.resumed"]["by"] == "supervisor"
        saved = events["recording.saved"]
        assert saved["sha256"] == sidecar["sha256"]
        assert saved["url"] == f"/api/recordings/{call_id}/audio"
        assert "recording.failed" not in events
        assert _health(service)[1]["recordings"]["healthy"] is True


def _active_call(service: Service) -> str:
    status, body = service.api("/api/calls?limit=5", token=SUPERVISOR_TOKEN)
    assert status == 200, body
    talking = [c for c in body["calls"] if c.get("agent") and c["ended_at"] is None]
    assert len(talking) == 1, body
    return str(talking[0]["call_id"])


def test_the_agent_pauses_by_feature_code_and_a_never_queue_is_not_recorded(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recordings = tmp_path / "recordings"
    with running_service(tmp_path, redis_server.url, settings=_settings(recordings)) as service:
        # ann presses *1 2 s into the conversation and *2 1.5 s later (card number in between).
        keys: list[DtmfStep] = [(2.0, "*1", "rfc4733"), (3.5, "*2", "rfc4733")]
        ann = _agent(service, "ann", tmp_path, duration=6.0, dtmf=keys)
        caller = _caller(service, tmp_path, BILLING)
        tess = _agent(service, "tess", tmp_path, duration=4.0)
        other = start_phone(
            f"sip:100@{service.sip_uri_host}", dtmf=SUPPORT, duration=40.0,
            play=tone(tmp_path / "other-440.wav", 440), loop=True,
        )  # fmt: skip
        assert tess.wait_agent().answered
        never = other.wait()
        assert never.call_id is not None
        assert ann.wait_agent().connected_seconds >= 5.9
        result = caller.wait()
        assert result.call_id is not None

        sidecar = _sidecar(service, result.call_id)
        assert [p["by"] for p in sidecar["pauses"]] == ["ann"], sidecar["pauses"]
        assert 1.0 <= sidecar["pauses"][0]["seconds"] <= 2.2, sidecar["pauses"]
        _check_stereo_file(recordings / sidecar["file"], sidecar, keys=True)
        paused = [e for e in _events(redis_server.url, result.call_id) if "recording" in e["type"]]
        assert [e["type"] for e in paused] == [
            "recording.started", "recording.paused", "recording.resumed", "recording.saved",
        ]  # fmt: skip
        assert paused[1]["by"] == "ann" and paused[1]["via"] == "dtmf"

        # The support queue says never: no recording, no file, nothing to pause.
        service.wait_call(never.call_id, lambda r: r["ended_at"] is not None)
        status, body = service.api(f"/api/recordings/{never.call_id}", token=SUPERVISOR_TOKEN)
        assert status == 404, body
        status, body = service.api(
            f"/api/calls/{never.call_id}/recording/pause",
            token=SUPERVISOR_TOKEN, method="POST", body={},
        )  # fmt: skip
        assert status == 404 and body["error_id"] == "recording-not-found", body
        types = [e["type"] for e in _events(redis_server.url, never.call_id)]
        assert not [t for t in types if t.startswith("recording.")], types
        assert len(list(recordings.glob("*/*/*/*.wav"))) == 1


def test_the_ivr_part_of_a_call_is_recorded_when_asked(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recordings = tmp_path / "recordings"
    settings = _settings(recordings)
    settings["recording"]["ivr_leg"] = True
    with running_service(tmp_path, redis_server.url, settings=settings) as service:
        ann = _agent(service, "ann", tmp_path, duration=3.0)
        caller = _caller(service, tmp_path, BILLING)
        assert ann.wait_agent().answered
        result = caller.wait()
        assert result.call_id is not None
        call_id = result.call_id

        def ivr_sidecar() -> dict[str, Any] | None:
            status, body = service.api(f"/api/recordings/{call_id}/ivr", token=SUPERVISOR_TOKEN)
            return dict(body) if status == 200 else None

        ivr = _until(ivr_sidecar)
        conversation = _sidecar(service, call_id)
        assert ivr["leg"] == "ivr" and conversation["leg"] == "conversation"
        assert ivr["channels"] == {"left": "caller", "right": "prompts"}
        assert ivr["agent"] is None and ivr["caller"] == "phone"
        assert ivr["file"] == conversation["file"].replace(".wav", ".ivr.wav")
        # From the answer to the bridge: the greeting, the menu, the key, a short wait.
        assert 1.5 <= ivr["duration"] <= 15, ivr
        assert ivr["start"] < conversation["start"] <= ivr["end"] + 0.5
        status, audio, kind = _download(service, f"{call_id}/ivr", SUPERVISOR_TOKEN)
        assert status == 200 and kind == "audio/wav"
        assert hashlib.sha256(audio).hexdigest() == ivr["sha256"]
        assert _download(service, f"{call_id}/ivr", ANN_TOKEN)[0] == 403
        wav = tmp_path / "ivr.wav"
        wav.write_bytes(audio)
        left, right, rate = read_stereo(wav)
        assert tone_power_ratio(left[rate // 2 : rate], rate, 440, 1000) > 100  # the caller
        prompts = write_mono(tmp_path / "prompts.wav", right, rate)
        heard = analyze(prompts)
        assert heard.first_sound is not None and heard.first_sound < 0.5  # the greeting
        assert heard.sound_seconds >= 1.0
        assert abs(dominant_frequency(prompts) - 440) > 20  # speech, not the caller's tone

        types = [e["type"] for e in _events(redis_server.url, call_id)]
        recording = [t for t in types if t.startswith("recording.")]
        assert recording[0] == "recording.ivr_started", recording
        assert "recording.ivr_saved" in recording and "recording.saved" in recording
        assert "recording.failed" not in recording
        saved = {e["type"]: e for e in _events(redis_server.url, call_id)}
        assert saved["recording.ivr_saved"]["url"] == f"/api/recordings/{call_id}/ivr/audio"
        assert saved["recording.saved"]["url"] == f"/api/recordings/{call_id}/audio"


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[None]:
    """A small tmpfs at ``path`` (needs root and mount rights; the test skips without)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _call_carries_on(
    service: Service,
    tmp_path: Path,
    seconds: float,
    during: Callable[[RunningPhone], None] | None = None,
) -> tuple[str, Path]:
    """A caller and ann talk for ``seconds``; both hear each other and the call completes.
    ``during(ann's phone)`` runs once the recording is requested, while they talk."""
    ann = _agent(service, "ann", tmp_path, duration=seconds)
    caller = _caller(service, tmp_path, BILLING)
    if during is not None:
        during(ann)
    agent = ann.wait_agent()
    assert agent.answered and agent.hangup_by == "local", agent  # not cut off
    assert agent.connected_seconds >= seconds - 0.1
    assert abs(dominant_frequency(tmp_path / "ann-heard.wav") - 440) <= 20
    result = caller.wait()
    assert result.call_id is not None
    record = service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    assert record["outcome"] == "completed" and record["agent"] == "ann"
    return result.call_id, tmp_path / "callcenter.log"


def test_an_unwritable_recordings_directory_raises_the_alarm_and_calls_carry_on(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recordings = tmp_path / "recordings"
    with (
        _tmpfs(recordings, "ro,size=1m"),
        running_service(
            tmp_path, redis_server.url, settings=_settings(recordings), wait_ready=False
        ) as service,
    ):
        status, health = _until(lambda: _answering(service), timeout=60)
        assert status == 503 and health["status"] == "degraded"
        assert health["recordings"]["healthy"] is False
        assert "cannot write" in health["recordings"]["last_failure"]["reason"]
        call_id, log = _call_carries_on(service, tmp_path, 3.0)
        failed = [e for e in _events(redis_server.url, call_id) if e["type"] == "recording.failed"]
        assert len(failed) == 1 and "could not start" in failed[0]["reason"], failed
        assert re.search(rf"ERROR .*recording of call {re.escape(call_id)} failed", log.read_text())
        status, health = _health(service)
        assert status == 503 and health["recordings"]["failures"] == 2
        assert "\ncallcenter_recording_failures_total 2.0\n" in _metrics(service)


def test_a_full_disk_raises_the_alarm_and_the_call_carries_on(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    recordings = tmp_path / "recordings"
    # 64 KiB: the two mono tracks (16 KB/s each) fill it about 2 s into the conversation.
    with (
        _tmpfs(recordings, "size=64k"),
        running_service(tmp_path, redis_server.url, settings=_settings(recordings)) as service,
    ):
        assert _health(service)[0] == 200

        def alarm_while_talking(ann: RunningPhone) -> None:
            # The tracks are checked every 5 s: the alarm comes during the 10 s conversation.
            _until(lambda: _health(service)[0] == 503, timeout=25)
            assert ann.process.poll() is None  # still talking
            status, body = service.api("/api/calls?limit=1", token=SUPERVISOR_TOKEN)
            assert status == 200 and body["calls"][0]["ended_at"] is None, body

        call_id, log = _call_carries_on(service, tmp_path, 10.0, alarm_while_talking)
        failed = [e for e in _events(redis_server.url, call_id) if e["type"] == "recording.failed"]
        assert len(failed) == 1 and "disk full" in failed[0]["reason"], failed
        assert "so far" in failed[0]["reason"]  # raised during the call
        assert re.search(rf"ERROR .*recording of call {re.escape(call_id)} failed", log.read_text())
        status, health = _health(service)
        assert status == 503 and health["recordings"]["healthy"] is False
        assert service.api(f"/api/recordings/{call_id}", token=SUPERVISOR_TOKEN)[0] == 404
