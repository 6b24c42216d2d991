"""Queue experience keys: parsed into QueueExperience, bad values named by key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from callcenter.config import ConfigError, load_config
from callcenter.domain.routing.waiting import Overflow, QueueExperience
from callcenter.routing.waiting import experiences


def _load(tmp_path: Path, text: str) -> dict[str, QueueExperience]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return experiences(load_config(path, environ={}).queues)


def test_experience_keys_reach_the_waiting_room(tmp_path: Path) -> None:
    found = _load(
        tmp_path,
        "queues:\n"
        "  a: {announce_position: true, announce_wait: true, announce_first_seconds: 5,\n"
        "      announce_every_seconds: 20, overflow: {queue: b, message: Moving you.},\n"
        "      join_when_empty: false, leave_when_empty: true, max_wait_seconds: 60}\n"
        "  b: {}\n",
    )
    assert found["a"] == QueueExperience(
        announce_position=True,
        announce_wait=True,
        announce_first_seconds=5,
        announce_every_seconds=20,
        overflow=Overflow(queue="b", message="Moving you."),
        join_when_empty=False,
        leave_when_empty=True,
    )
    assert found["b"] == QueueExperience()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queues: {a: {overflow: {queue: nope}}}", "queues.a.overflow.queue: unknown queue"),
        ("queues: {a: {overflow: {queue: a}}}", "cannot overflow into itself"),
        ("queues: {a: {overflow: {hangup: false}}}", "queues.a.overflow: give a queue"),
        ("queues: {a: {announce_every_seconds: 1}}", "announce_every_seconds: must be at least 5"),
        ("queues: {a: {join_when_empty: maybe}}", "queues.a.join_when_empty: expected true"),
    ],
)
def test_bad_experience_keys(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("overflow", "message"),
    [
        ({"flow": "x.yaml", "queue": "support"}, "give a queue or a flow, not both"),
        ({"node": "offer"}, "overflow.node: needs overflow.flow"),
    ],
)
def test_overflow_to_a_flow_is_checked(
    tmp_path: Path, overflow: dict[str, str], message: str
) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump({"queues": {"billing": {"overflow": overflow}, "support": {}}}))
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})
