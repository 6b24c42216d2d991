"""Agents and queues from the configuration: names checked against each other at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter.config import ConfigError, load_config
from callcenter.domain.ivr.loader import load_flow
from callcenter.domain.routing.queues import Strategy
from callcenter.roster import build_roster, check_flow_queues

BASE: dict[str, Any] = {
    "skills": ["billing", "english", "spanish"],
    "queues": {
        "billing": {
            "skills": {"billing": 3},
            "strategy": "most-skilled",
            "escalation": [
                {"after_seconds": 60, "lower_by": 1},
                {"after_seconds": 120, "drop": ["billing"]},
            ],
        }
    },
    "agents": [
        {
            "id": "alice",
            "name": "Alice",
            "password": "s3cret-pass",
            "skills": {"billing": 5, "english": 9},
            "queues": ["billing"],
        }
    ],
}


def _roster(tmp_path: Path, changes: dict[str, Any] | None = None) -> Any:
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump({**BASE, **(changes or {})}))
    return build_roster(load_config(path, environ={}))


def test_agents_and_queues_become_domain_objects(tmp_path: Path) -> None:
    roster = _roster(tmp_path)
    alice = roster.agents["alice"]
    assert alice.sip_username == "alice"  # defaults to the id
    assert dict(alice.skills) == {"billing": 5, "english": 9}
    queue = roster.queues["billing"]
    assert queue.strategy is Strategy.MOST_SKILLED
    assert [step.after_seconds for step in queue.escalation] == [60, 120]
    assert roster.password("alice") == "s3cret-pass"
    assert roster.password("mallory") is None
    assert roster.agent_by_username("alice") is alice


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"agents": [{**BASE["agents"][0], "skills": {"biling": 5}}]},
            "agents[0].skills: unknown skill 'biling'",
        ),
        ({"agents": [{**BASE["agents"][0], "queues": ["sales"]}]}, "unknown queue 'sales'"),
        ({"agents": [{**BASE["agents"][0], "password": ""}]}, "needs a SIP password"),
        ({"agents": [{**BASE["agents"][0], "skills": {"billing": 11}}]}, "must be 1-10"),
        ({"agents": [BASE["agents"][0], BASE["agents"][0]]}, "agent 'alice' is defined twice"),
        (
            {"queues": {"billing": {"skills": {"chinese": 2}}}},
            "queues.billing.skills: unknown skill",
        ),
        ({"queues": {"billing": {"strategy": "random"}}}, "queues.billing.strategy: 'random'"),
    ],
)
def test_bad_names_are_clear_errors(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _roster(tmp_path, changes)
    assert message in str(caught.value)


def test_flows_may_only_queue_to_configured_queues(tmp_path: Path) -> None:
    roster = _roster(tmp_path)
    flow_path = tmp_path / "flow.yaml"
    flow_path.write_text("version: 1\nstart: q\nnodes:\n  q: {type: queue, queue: complaints}\n")
    problems = check_flow_queues(roster, [load_flow(flow_path)])
    assert problems == [
        f"{flow_path}: node 'q' queues to 'complaints', "
        "which is not under `queues:` in the configuration"
    ]


def test_the_defaults_cover_the_shipped_flow() -> None:
    config = load_config(environ={})
    roster = build_roster(config)
    flow = load_flow(config.flow_path("support.yaml"))
    assert check_flow_queues(roster, [flow]) == []
