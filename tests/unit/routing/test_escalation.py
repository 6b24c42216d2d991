"""Escalation steps relax a call's requirements as it waits."""

from __future__ import annotations

import pytest

from callcenter.domain.routing import (
    EscalationStep,
    Queue,
    RoutingConfigError,
    Strategy,
    choose_agent,
    requirements_at,
)
from tests.unit.routing.kit import T0, call, make_agent, snap

BULLSEYE = Queue(
    "support",
    skills={"billing": 5, "german": 2},
    escalation=[
        EscalationStep(30, min_levels={"billing": 3}),
        EscalationStep(60, drop=["billing"]),
    ],
)


def test_requirements_step_down_at_each_step_start() -> None:
    waiting = call("c1", entered_at=T0)
    first = requirements_at(BULLSEYE, waiting, T0 + 29.9)
    assert (dict(first.levels), first.step, first.next_step_at) == (
        {"billing": 5, "german": 2},
        0,
        T0 + 30,
    )
    second = requirements_at(BULLSEYE, waiting, T0 + 30)
    assert (dict(second.levels), second.step, second.next_step_at) == (
        {"billing": 3, "german": 2},
        1,
        T0 + 60,
    )
    third = requirements_at(BULLSEYE, waiting, T0 + 60)
    assert (dict(third.levels), third.step, third.next_step_at) == ({"german": 2}, 2, None)
    assert dict(third.base) == {"billing": 5, "german": 2}


def test_weaker_agents_become_eligible_only_once_the_call_waited_long_enough() -> None:
    mid = snap(make_agent("mid", {"billing": 3, "german": 2}))
    none = snap(make_agent("none", {"german": 4}))
    waiting = call("c1", entered_at=T0)

    def chosen(at: float) -> str | None:
        return choose_agent(waiting, BULLSEYE, [mid, none], at).agent_id

    assert chosen(T0 + 29) is None
    assert chosen(T0 + 30) == "mid"
    only_none = [none]
    assert choose_agent(waiting, BULLSEYE, only_none, T0 + 59).agent_id is None
    assert choose_agent(waiting, BULLSEYE, only_none, T0 + 60).agent_id == "none"


def test_ivr_skills_merge_with_the_queue_at_the_higher_level() -> None:
    queue = Queue("support", skills={"spanish": 2})
    needs = requirements_at(queue, call("c1", skills={"spanish": 4, "vip": 1}), T0)
    assert dict(needs.levels) == {"spanish": 4, "vip": 1}


def test_lower_by_relaxes_every_skill_including_the_ivr_ones_but_not_below_one() -> None:
    queue = Queue("support", skills={"billing": 6}, escalation=[EscalationStep(20, lower_by=3)])
    needs = requirements_at(queue, call("c1", skills={"vip": 2}), T0 + 20)
    assert dict(needs.levels) == {"billing": 3, "vip": 1}


def test_a_step_never_raises_a_minimum() -> None:
    queue = Queue(
        "support", skills={"billing": 2}, escalation=[EscalationStep(10, min_levels={"billing": 8})]
    )
    assert dict(requirements_at(queue, call("c1"), T0 + 10).levels) == {"billing": 2}


def test_most_skilled_still_prefers_an_agent_holding_a_dropped_skill() -> None:
    queue = Queue(
        "support",
        skills={"billing": 5},
        strategy=Strategy.MOST_SKILLED,
        escalation=[EscalationStep(60, drop=["billing"])],
    )
    agents = [snap(make_agent("plain"), idle_since=0.0), snap(make_agent("some", {"billing": 2}))]
    assert choose_agent(call("c1", entered_at=T0), queue, agents, T0 + 60).agent_id == "some"


@pytest.mark.parametrize(
    "steps",
    [
        [EscalationStep(60), EscalationStep(30)],
        [EscalationStep(30), EscalationStep(30)],
    ],
)
def test_steps_must_start_at_increasing_waits(steps: list[EscalationStep]) -> None:
    with pytest.raises(RoutingConfigError, match="increasing"):
        Queue("support", escalation=steps)


def test_a_step_needs_a_positive_start_and_valid_levels() -> None:
    with pytest.raises(RoutingConfigError):
        EscalationStep(0)
    with pytest.raises(RoutingConfigError, match="1-10"):
        EscalationStep(10, min_levels={"billing": 0})
    with pytest.raises(RoutingConfigError):
        EscalationStep(10, lower_by=10)
