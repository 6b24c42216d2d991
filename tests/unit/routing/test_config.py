"""Impossible agent, queue and call values are refused with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentSnapshot,
    Queue,
    RoutingConfigError,
    WaitingCall,
    requirements_at,
)
from tests.unit.routing.kit import T0, call, make_agent


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        ({"billing": 11}, "agent a1: level of skill 'billing' must be 1-10, got 11"),
        ({"billing": 0}, "agent a1: level of skill 'billing' must be 1-10, got 0"),
        ({"": 3}, "agent a1: skill names must be non-empty text"),
    ],
)
def test_agent_skill_levels_are_checked(skills: dict[str, int], message: str) -> None:
    with pytest.raises(RoutingConfigError) as error:
        make_agent("a1", skills)
    assert str(error.value) == message
    assert error.value.error_id == "routing-config-invalid"


def test_agent_queues_are_stored_as_a_tuple_without_duplicates() -> None:
    assert Agent("a1", "A", "a1", {}, ["support", "sales"]).queues == ("support", "sales")
    with pytest.raises(RoutingConfigError, match="twice"):
        Agent("a1", "A", "a1", {}, ["support", "support"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weight": 0.0},
        {"weight": 101.0},
        {"ring_timeout_seconds": 0.0},
        {"wrap_up_seconds": -1.0},
        {"max_wait_seconds": 0.0},
        {"skills": {"billing": 12}},
    ],
)
def test_queue_values_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(RoutingConfigError, match="queue support"):
        Queue("support", **kwargs)


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="random"):
        Queue("support", strategy="random")  # type: ignore[arg-type]


@pytest.mark.parametrize("priority", [-1, 1000])
def test_call_priority_is_bounded(priority: int) -> None:
    with pytest.raises(RoutingConfigError, match="priority"):
        WaitingCall("c1", "support", priority, T0)


def test_a_call_is_matched_only_against_its_own_queue() -> None:
    with pytest.raises(ValueError, match="waits in sales"):
        requirements_at(Queue("support"), call("c1", "sales"), T0)


def test_a_snapshot_must_pair_an_agent_with_its_own_record() -> None:
    with pytest.raises(ValueError):
        AgentSnapshot(make_agent("a1"), AgentRecord.offline("a2", T0), True)
