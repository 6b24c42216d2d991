"""Callers reach the real service over loopback and the IVR does what they asked.

The callers are independent peers: sipp (SIP INFO digits, UDP and TCP) and a pjsua2 softphone
in its own process (RFC 4733 digits, records what it hears).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.media.prompts import render_say
from tests.support.audio import analyze
from tests.support.phone import run_phone
from tests.support.ports import free_port
from tests.support.service import Service, running_service
from tests.support.sipp import SippRun, scenario

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module; every test makes its own calls and reads only those."""
    with running_service(
        tmp_path_factory.mktemp("ivr"),
        settings={
            "flows_dir": str(FLOWS),
            "numbers": {"100": "ivr.yaml"},
        },
    ) as running:
        yield running


@pytest.fixture
def shipped_service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path) as running:  # embedded defaults: ivr_flows/support.yaml
        yield running


def _finished(record: dict[str, Any]) -> bool:
    return record["ended_at"] is not None


def _sipp_digit(service: Service, work: Path, digit: str, transport: str = "u1") -> str:
    """One sipp caller pressing ``digit`` by INFO, then holding 1.5 s; returns its Call-ID."""
    run = SippRun(
        scenario("uac_ivr_digit"),
        work,
        local=("127.0.0.1", free_port()),
        remote=("127.0.0.1", service.sip_port),
        transport=transport,
        service="100",
        duration_ms=1500,
        variables={"digit": digit},
    ).start()
    assert run.process is not None
    call_id = f"1-{run.process.pid}@127.0.0.1"
    result = run.wait()
    assert result.ok, result.describe()
    return call_id


def test_digit_by_info_chooses_the_queue(service: Service, tmp_path: Path) -> None:
    call_id = _sipp_digit(service, tmp_path, "1")
    record = service.wait_call(call_id, _finished)
    assert record["did"] == "100"
    assert record["caller"] == "+15550001"
    assert record["queue"] == "billing"
    assert record["priority"] == 3
    assert [(d["digit"], d["method"]) for d in record["digits"]] == [("1", "info")]
    assert [n["node"] for n in record["nodes"]] == ["welcome", "menu", "billing"]
    assert record["outcome"] == "abandoned"  # the caller hung up while waiting in the queue
    assert record["ended_by"] == "caller"
    assert 1.0 <= record["wait"] <= 5.0


def test_a_tcp_caller_gets_the_same_service(service: Service, tmp_path: Path) -> None:
    call_id = _sipp_digit(service, tmp_path, "2", transport="t1")
    record = service.wait_call(call_id, _finished)
    assert record["queue"] == "support"
    assert record["end_node"] == "support"


def _duration(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return float(wav.getnframes() / wav.getframerate())


def test_phone_hears_the_prompts_and_its_rfc4733_digit_chooses_the_queue(
    service: Service, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    welcome = _duration(render_say("Welcome to the test line.", "en", cache))
    menu = _duration(render_say("For billing, press 1. For support, press 2.", "en", cache))
    press_at = welcome + menu + 0.5  # after both prompts, before the 2 s menu timeout
    heard = tmp_path / "heard.wav"
    result = run_phone(
        f"sip:100@{service.sip_uri_host}",
        dtmf=[(press_at, "2", "rfc4733")],
        duration=press_at + 3.0,
        record_to=heard,
    )
    assert result.answered and result.hangup_by == "local", result
    assert result.call_id is not None
    record = service.wait_call(result.call_id, _finished)
    assert record["queue"] == "support"
    assert [(d["digit"], d["method"], d["node"]) for d in record["digits"]] == [
        ("2", "rfc4733", "menu")
    ]

    audio = analyze(heard)
    assert audio.first_sound is not None and audio.first_sound < 1.0  # the greeting starts at once
    spoken = welcome + menu
    prompts = analyze_until(heard, press_at)
    # espeak leaves short pauses between words, so count ~70% of the prompts as sound.
    assert prompts >= 0.7 * spoken * 0.85, (prompts, spoken)
    assert prompts <= spoken + 0.5
    # After the digit, hold music plays until the caller hangs up.
    assert audio.last_sound is not None and audio.last_sound > press_at + 2.0


def analyze_until(path: Path, seconds: float) -> float:
    """Seconds of sound in the first ``seconds`` of a recording."""
    cut = path.with_suffix(".head.wav")
    with wave.open(str(path)) as src, wave.open(str(cut), "wb") as dst:
        dst.setparams(src.getparams())
        dst.writeframes(src.readframes(int(seconds * src.getframerate())))
    return analyze(cut).sound_seconds


def test_hanging_up_mid_menu_is_an_abandon_where_it_happened(
    service: Service, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    welcome = _duration(render_say("Welcome to the test line.", "en", cache))
    result = run_phone(f"sip:100@{service.sip_uri_host}", duration=welcome + 1.0)
    assert result.answered and result.call_id is not None
    record = service.wait_call(result.call_id, _finished)
    assert record["outcome"] == "abandoned"
    assert record["ended_by"] == "caller"
    assert record["end_node"] == "menu"
    assert record["queue"] is None
    assert record["digits"] == []


def test_silence_gets_a_retry_then_the_service_hangs_up(service: Service) -> None:
    result = run_phone(f"sip:100@{service.sip_uri_host}", duration=30.0)
    assert result.answered and result.hangup_by == "remote", result
    assert result.call_id is not None
    record = service.wait_call(result.call_id, _finished)
    assert record["outcome"] == "completed"
    assert record["ended_by"] == "system"
    assert record["end_node"] == "bye"
    assert [n["node"] for n in record["nodes"]] == ["welcome", "menu", "bye"]


def _open_now() -> bool:
    """Whether the shipped flow's support line is open now (Mon-Fri 08-18 London)."""
    now = datetime.now(ZoneInfo("Europe/London"))
    holidays = {"2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31"}
    holidays |= {"2026-12-25", "2026-12-28"}
    return now.weekday() < 5 and 8 <= now.hour < 18 and now.date().isoformat() not in holidays


def test_the_shipped_support_line_with_embedded_defaults(
    shipped_service: Service, tmp_path: Path
) -> None:
    """`callcenter serve` with no config, no Redis: the sample flow answers on number 100."""
    result = run_phone(
        f"sip:100@{shipped_service.sip_uri_host}",
        dtmf=[(1.0, "2", "rfc4733"), (2.0, "2", "info")],  # Spanish, then technical support
        duration=25.0,
    )
    assert result.answered and result.call_id is not None
    record = shipped_service.wait_call(result.call_id, _finished, timeout=30)
    nodes = [n["node"] for n in record["nodes"]]
    assert nodes[:3] == ["chime", "greeting", "choose_language"]
    assert record["variables"]["lang"] == "es"
    if _open_now():
        assert "main_menu" in nodes
        assert record["queue"] == "support"
        assert nodes[-1] == "support_es"
    else:
        assert "after_hours" in nodes
        assert record["end_node"] == "closed"
        assert record["outcome"] == "completed"
    status, health = shipped_service.api("/healthz", token=None)
    assert status == 200
    assert health["redis"]["embedded"] is True
