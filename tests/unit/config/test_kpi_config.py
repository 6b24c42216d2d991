"""KPI keys: per-queue targets, the service-level formula, the time zone, /metrics access."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_config
from callcenter.domain.kpi import QueueTargets, ServiceLevelFormula, Window, window_start
from callcenter.kpi.book_config import book_for


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def test_kpi_keys_reach_the_book(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    assert config.metrics.public is False
    path = tmp_path / "c.yaml"
    path.write_text(
        "timezone: Europe/Paris\n"
        "kpi: {service_level_formula: abandons-ignored}\n"
        "metrics: {public: true}\n"
        "queues:\n"
        "  a: {service_level_seconds: 30, service_level_target: 0.9, short_abandon_seconds: 3}\n"
        "  b: {}\n"
        "agents: [{id: ann, password: secret-pw, queues: [a]}]\n"
    )
    config = load_config(path, environ={})
    assert config.metrics.public is True
    book = book_for(config)
    assert book.formula is ServiceLevelFormula.ABANDONS_IGNORED
    assert book.targets("a") == QueueTargets(30, 0.9, 3)
    assert book.targets("b") == QueueTargets(20, 0.8, 5)
    noon_utc = datetime(2026, 7, 1, 12, 0, tzinfo=UTC).timestamp()
    # Paris is UTC+2 in July: its midnight is 22:00 UTC the day before
    assert window_start(Window.TODAY, noon_utc, book.tz) == noon_utc - 14 * 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kpi: {service_level_formula: nice}\n", "kpi.service_level_formula: 'nice' is not one"),
        ("queues: {a: {service_level_target: 80}}\n", "queues.a.service_level_target: must be"),
        ("queues: {a: {short_abandon_seconds: -1}}\n", "queues.a.short_abandon_seconds: cannot"),
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("metrics: {public: maybe}\n", "metrics.public: expected true or false"),
    ],
)
def test_bad_kpi_keys_say_which_and_why(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        _load(tmp_path, text)
