"""CDR export formats, and the CLI's answers to bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from callcenter.cli import main
from callcenter.history.export import CALL_COLUMNS, export
from callcenter.history.queries import parse_time

ROW: dict[str, Any] = {name: None for name in CALL_COLUMNS} | {
    "call_id": "c1",
    "caller": "+4420",
    "arrived_at": 1_795_000_000.5,
    "ivr_path": ["welcome", "menu", "billing"],
    "digits": ["1", "2"],
    "choices": ["billing"],
    "queues": ["billing", "support"],
    "after_hours": False,
    "talk_seconds": 60.0,
    "attempts": [{"queue": "billing", "entered_at": 1_795_000_002.0, "left_at": None,
                  "result": None, "agent": None, "wait_seconds": None}],
    "legs": [{"kind": "caller", "agent": None, "started_at": 1_795_000_000.5,
              "answered_at": None, "ended_at": None, "result": None, "code": None}],
}  # fmt: skip


def test_csv_calls_have_iso_times_and_joined_lists() -> None:
    out = io.StringIO()
    assert export([ROW], out, "calls", "csv") == 1
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["arrived_at"] == "2026-11-18T11:06:40.500+00:00"
    assert row["ivr_path"] == "welcome>menu>billing" and row["digits"] == "12"
    assert row["queues"] == "billing|support" and row["after_hours"] == "false"
    assert row["talk_seconds"] == "60.0" and row["agent"] == ""


def test_csv_attempts_and_jsonl_calls() -> None:
    out = io.StringIO()
    assert export([ROW], out, "attempts", "csv") == 1
    (attempt,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert (attempt["call_id"], attempt["seq"], attempt["queue"]) == ("c1", "0", "billing")
    out = io.StringIO()
    assert export([ROW, ROW], out, "calls", "jsonl") == 2
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["arrived_at"] == 1_795_000_000.5 and first["legs"][0]["kind"] == "caller"


def test_dates() -> None:
    assert parse_time("2026-11-30") == parse_time("2026-11-30T00:00:00+00:00")
    assert parse_time("2026-11-30", end_of_day=True) == parse_time("2026-12-01")
    assert parse_time("1795000000.5") == 1_795_000_000.5
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("last tuesday")


def test_cli_bad_date_exits_2_and_an_empty_history_exports_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cdr", "export", "--from", "soon", "--data-dir", str(tmp_path)]) == 2
    assert "soon" in capsys.readouterr().err
    target = tmp_path / "out.csv"
    assert main(["cdr", "export", "--data-dir", str(tmp_path), "--output", str(target)]) == 0
    assert target.read_text().splitlines() == [",".join(CALL_COLUMNS)]
