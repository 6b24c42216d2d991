"""`callcenter flows check` as an operator runs it: file:line: message, exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _check(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter", "flows", "check", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_shipped_flows_are_valid() -> None:
    shipped = sorted((REPO / "ivr_flows").glob("*.yaml")) + sorted((REPO / "bench").rglob("*.yaml"))
    result = _check(*shipped)
    assert result.returncode == 0, result.stdout
    assert "OK" in result.stdout


def test_a_broken_flow_lists_each_problem_with_its_line(tmp_path: Path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "version: 1\n"
        "start: hello\n"
        "nodes:\n"
        "  hello:\n"
        "    type: say\n"
        "    say: Hello\n"
        "    on: {done: nowhere}\n"
        "  menu:\n"
        "    type: menu\n"
        "    prompt: Press 1\n"
        "    options: {'1': hello}\n"
        "    colour: blue\n"
    )
    result = _check(flow)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{flow}:7: ") and "nowhere" in line for line in lines), lines
    assert any(line.startswith(f"{flow}:12: ") and "colour" in line for line in lines), lines
    assert any(line.startswith(f"{flow}:8: ") and "unreachable" in line for line in lines), lines


def test_a_missing_file_is_reported_not_a_traceback(tmp_path: Path) -> None:
    result = _check(tmp_path / "absent.yaml")
    assert result.returncode == 1
    assert "absent.yaml" in result.stdout
    assert "Traceback" not in result.stderr
