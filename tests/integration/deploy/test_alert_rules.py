"""The alert rules in ``deploy/prometheus`` are valid and fire as intended (promtool).

``promtool`` comes with Debian's ``prometheus`` package; it is not in ``./dev``'s list (that
package also installs and starts a Prometheus server), so this test is skipped without it.
That every metric the rules use exists is checked against a real scrape in
``tests/e2e/test_metrics.py``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt prometheus)")


def _promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_file_is_valid() -> None:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    rules = sum(len(group["rules"]) for group in groups)
    assert f"SUCCESS: {rules} rules found" in _promtool("check", "rules", "alerts.yml")


def test_each_alert_fires_on_its_case_and_not_otherwise() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")
