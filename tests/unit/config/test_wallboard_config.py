"""``queues.<q>.wallboard``: tile thresholds, defaults from the service level, bad ones named."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_config, wallboard_thresholds
from callcenter.domain.wallboard import Thresholds


def _thresholds(tmp_path: Path, text: str) -> dict[str, Thresholds]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    queues = load_config(path, environ={}).queues
    return {name: wallboard_thresholds(queue) for name, queue in queues.items()}


def test_longest_wait_defaults_follow_the_service_level(tmp_path: Path) -> None:
    found = _thresholds(tmp_path, "queues:\n  a: {service_level_seconds: 30}\n  b: {}\n")
    assert found["a"] == Thresholds(5, 10, 30, 60, 80, 60)
    assert found["b"] == Thresholds(5, 10, 20, 40, 80, 60)


def test_every_threshold_can_be_set(tmp_path: Path) -> None:
    found = _thresholds(
        tmp_path,
        "queues:\n  a:\n    wallboard: {waiting_amber: 1, waiting_red: 2,\n"
        "      longest_wait_amber_seconds: 3, longest_wait_red_seconds: 4,\n"
        "      service_level_amber: null, service_level_red: 50}\n",
    )
    assert found["a"] == Thresholds(1, 2, 3, 4, None, 50)


def test_a_red_below_the_default_amber_pulls_amber_down(tmp_path: Path) -> None:
    found = _thresholds(tmp_path, "queues:\n  a: {wallboard: {longest_wait_red_seconds: 5}}\n")
    assert (found["a"].longest_wait_amber_seconds, found["a"].longest_wait_red_seconds) == (5, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{waiting_amber: 9, waiting_red: 3}", "queues.a.wallboard: waiting_amber"),
        ("{service_level_red: 101}", "queues.a.wallboard: service-level"),
        ("{colour: red}", "queues.a.wallboard.colour: unknown configuration key"),
    ],
)
def test_bad_thresholds_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"queues:\n  a: {{wallboard: {text}}}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})
