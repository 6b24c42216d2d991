"""Call history end to end: a real caller→agent call is written to the history database by
the service's consumer, read back through ``GET /api/calls`` and ``callcenter cdr export``,
and calls made while the database was down reach it after a restart."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import tone
from tests.support.phone import start_agent_phone, start_phone
from tests.support.postgres import PostgresServer, running_postgres, unavailable_reason
from tests.support.service import Service, running_service

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"
PASSWORD = "agent-pass-123"
SETTINGS: dict[str, Any] = {
    "flows_dir": str(FLOWS),
    "numbers": {"100": "ivr.yaml"},
    "queues": {
        "billing": {"ring_timeout_seconds": 5, "wrap_up_seconds": 2},
        "support": {},
    },
    "agents": [{"id": "ann", "name": "Ann", "password": PASSWORD, "queues": ["billing"]}],
}


def settled(record: dict[str, Any]) -> bool:
    return record.get("source") == "history" and record.get("finalized") is True


def export(data_dir: Path, *extra: str) -> str:
    today = datetime.now(UTC).date().isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "callcenter", "cdr", "export", "--from", today, "--to", today,
         "--data-dir", str(data_dir), *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_answered_call_is_in_the_history_api_and_the_cdr_export(tmp_path: Path) -> None:
    with running_service(tmp_path, settings=SETTINGS) as service:
        ann = start_agent_phone(
            register=f"sip:{service.sip_uri_host}",
            username="ann",
            password=PASSWORD,
            play=tone(tmp_path / "ann.wav", 1000),
            wait=40,
            answer_after=1.0,
            duration=7.0,
            hold=(2.0, 4.0),  # the agent holds the caller for 2 of the 7 s
        )
        assert ann.wait_ready().get("registered")
        status, body = service.api("/api/agents/ann/login", method="POST", body={})
        assert status == 200, body
        caller = start_phone(
            f"sip:100@{service.sip_uri_host}",
            dtmf=[(0.5, "1", "rfc4733")],  # billing
            play=tone(tmp_path / "caller.wav", 440),
            loop=True,
            duration=30.0,  # longer than the agent: the agent hangs up first
        )
        result = caller.wait()
        assert result.answered and result.call_id is not None, result
        agent = ann.wait_agent()
        assert agent.answered, agent
        call_id = result.call_id

        # Wrap-up (2 s) ends after the call: the history refines the record when it does.
        record = service.wait_call(
            call_id, lambda r: settled(r) and r["wrap_up_seconds"] is not None, timeout=30
        )
        assert record["outcome"] == "completed"
        assert record["ended_by"] == "agent"
        assert record["agent"] == "ann" and record["queue"] == "billing"
        assert record["choices"] == ["billing"]
        assert [d["digit"] for d in record["digits"]] == ["1"]  # the record's old shape kept
        assert [n["node"] for n in record["nodes"]] == ["welcome", "menu", "billing"]
        assert 0.5 <= record["wait"] <= 10
        assert 5.0 <= record["talk_seconds"] <= 10.0
        assert 1.0 <= record["hold_seconds"] <= 3.5
        assert 1.5 <= record["wrap_up_seconds"] <= 5.0
        assert [leg["kind"] for leg in record["legs"]] == ["caller", "agent"]
        assert record["legs"][1]["agent"] == "ann"
        assert record["attempts"][0]["result"] == "answered"

        status, page = service.api("/api/calls?agent=ann&queue=billing&outcome=completed")
        assert status == 200, page
        assert [c["call_id"] for c in page["calls"]] == [call_id]
        status, page = service.api("/api/calls?agent=bob")
        assert status == 200 and page["calls"] == [], page
        status, error = service.api("/api/calls?from=yesterday")
        assert status == 400 and "from" in error["message"], error

    # The service is stopped: the export reads the database alone.
    rows = list(csv.DictReader(io.StringIO(export(service.data_dir, "--format", "csv"))))
    assert [r["call_id"] for r in rows] == [call_id]
    row = rows[0]
    assert (row["agent"], row["ended_by"], row["queue"], row["outcome"]) == (
        "ann", "agent", "billing", "completed"
    )  # fmt: skip
    assert float(row["talk_seconds"]) == record["talk_seconds"]
    assert row["ivr_path"] == "welcome>menu>billing" and row["digits"] == "1"
    assert row["arrived_at"].startswith(datetime.now(UTC).date().isoformat())
    legs = list(csv.DictReader(io.StringIO(export(service.data_dir, "--legs"))))
    assert [(r["kind"], r["agent"]) for r in legs] == [("caller", ""), ("agent", "ann")]


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with running_postgres() as server:
        yield server


def _ivr_only_call(service: Service) -> str:
    caller = start_phone(
        f"sip:100@{service.sip_uri_host}", dtmf=[(0.5, "9", "rfc4733")], duration=20.0
    )  # 9 is no option: the flow says goodbye and hangs up
    result = caller.wait()
    assert result.answered and result.call_id is not None, result
    service.wait_call(result.call_id, lambda r: r["ended_at"] is not None)
    return result.call_id


def test_calls_made_while_the_database_is_down_reach_it_after_a_restart(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    settings = {**SETTINGS, "history": {"url": postgres.url, "claim_idle_seconds": 2}}
    data_dir = tmp_path / "data"
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
    with running_service(tmp_path / "one", settings=settings, data_dir=data_dir) as service:
        first = _ivr_only_call(service)
        service.wait_call(first, settled)
        postgres.stop()
        try:
            second = _ivr_only_call(service)
            time.sleep(1.0)  # the consumer tries and fails: the events stay pending
            status, record = service.api(f"/api/calls/{second}")
            assert status == 200 and record["source"] == "live", record  # not lost meanwhile
        finally:
            service.stop()
            postgres.start()
    with running_service(tmp_path / "two", settings=settings, data_dir=data_dir) as service:
        record = service.wait_call(second, settled, timeout=30)
        assert record["outcome"] == "completed" and record["ended_by"] == "system"
        assert record["end_reason"] is not None
        status, page = service.api("/api/calls")
        assert status == 200
        assert {first, second} <= {c["call_id"] for c in page["calls"]}
