"""`callcenter recordings purge --older-than 90d` as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from callcenter.recording.files import Finished, save
from tests.support.audio import write_mono

DAY = 86400.0


def _recording(directory: Path, tmp_path: Path, call_id: str, age_days: float) -> Path:
    ended = time.time() - age_days * DAY
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    finished = Finished(
        call_id=call_id, caller="+4420", agent="ann", queue="billing", started_at=ended - 1,
        ended_at=ended, left_file=write_mono(spool / f"{call_id}.l.wav", [1] * 8000),
        right_file=write_mono(spool / f"{call_id}.r.wav", [2] * 8000), seconds=1.0,
    )  # fmt: skip
    return directory / str(save(directory, finished, f"/api/recordings/{call_id}/audio")["file"])


def _purge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter", "recordings", "purge", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_purge_removes_old_recordings_with_their_sidecars(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    old = _recording(directory, tmp_path, "old-call", 91)
    recent = _recording(directory, tmp_path, "recent-call", 89)
    config = tmp_path / "callcenter.yaml"
    config.write_text(f"recording: {{directory: {directory}}}\n")

    dry = _purge("--older-than", "90d", "--dry-run", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    assert (
        f"would remove {old}" in dry.stdout
        and f"would remove {old.with_suffix('.json')}" in dry.stdout
    )
    assert "would remove 1 recording(s), 2 file(s)" in dry.stdout
    assert old.exists()

    done = _purge("--older-than", "90d", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert f"removed {old}\n" in done.stdout and "removed 1 recording(s), 2 file(s)" in done.stdout
    assert not old.exists() and not old.with_suffix(".json").exists()
    assert recent.exists() and recent.with_suffix(".json").exists()

    hours = _purge("--older-than", "2000h", "--directory", str(directory))  # 83 days
    assert hours.returncode == 0 and not recent.exists(), hours.stdout


def test_a_wrong_age_is_a_usage_error(tmp_path: Path) -> None:
    result = _purge("--older-than", "3 weeks", "--directory", str(tmp_path))
    assert result.returncode == 2
    assert "not an age like 90d" in result.stderr
