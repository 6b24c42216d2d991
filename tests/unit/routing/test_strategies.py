"""Agent choice for a call: eligibility and every strategy, with deterministic ties."""

from __future__ import annotations

import pytest

from callcenter.domain.routing import (
    Agent,
    AgentKey,
    AgentSnapshot,
    AgentStats,
    Queue,
    Status,
    Strategy,
    agent_sort_key,
    choose_agent,
)
from tests.unit.routing.kit import T0, call, make_agent, snap


def pick(
    strategy: Strategy, *agents: AgentSnapshot, skills: dict[str, int] | None = None
) -> str | None:
    queue = Queue("support", skills=skills or {}, strategy=strategy)
    return choose_agent(call("c1"), queue, agents, T0 + 100).agent_id


def test_longest_idle_is_the_default_and_picks_the_earliest_idle_since() -> None:
    assert Queue("support").strategy is Strategy.LONGEST_IDLE
    chosen = pick(
        Strategy.LONGEST_IDLE,
        snap(make_agent("a1"), idle_since=T0 - 100),
        snap(make_agent("a2"), idle_since=T0 - 200),
        snap(make_agent("a3"), idle_since=T0 - 50),
    )
    assert chosen == "a2"


def test_longest_idle_ties_fall_to_the_agent_id() -> None:
    chosen = pick(
        Strategy.LONGEST_IDLE,
        snap(make_agent("b"), idle_since=T0),
        snap(make_agent("a"), idle_since=T0),
        snap(make_agent("c"), idle_since=T0),
    )
    assert chosen == "a"


def test_most_skilled_sums_the_levels_of_the_required_skills() -> None:
    agents = [
        snap(make_agent("a1", {"billing": 9, "spanish": 2, "sales": 10}), idle_since=T0 - 900),
        snap(make_agent("a2", {"billing": 5, "spanish": 8})),
        snap(make_agent("a3", {"billing": 10})),  # lacks spanish: not eligible
    ]
    queue = Queue("support", skills={"billing": 3}, strategy=Strategy.MOST_SKILLED)
    decision = choose_agent(call("c1", skills={"spanish": 1}), queue, agents, T0)
    assert decision.agent_id == "a2"  # 5 + 8 = 13 beats 9 + 2 = 11; sales is not relevant


def test_most_skilled_ties_go_to_the_longest_idle() -> None:
    chosen = pick(
        Strategy.MOST_SKILLED,
        snap(make_agent("a1", {"billing": 6}), idle_since=T0 - 10),
        snap(make_agent("a2", {"billing": 6}), idle_since=T0 - 20),
        snap(make_agent("a3", {"billing": 5}), idle_since=T0 - 900),
        skills={"billing": 1},
    )
    assert chosen == "a2"


def test_round_robin_picks_the_agent_offered_least_recently_in_this_queue() -> None:
    chosen = pick(
        Strategy.ROUND_ROBIN,
        snap(make_agent("a1"), offered_in={"support": T0 - 10}),
        snap(make_agent("a2"), offered_in={"support": T0 - 30}),
        snap(make_agent("a3"), offered_in={"support": T0 - 20, "sales": T0 - 500}),
    )
    assert chosen == "a2"


def test_round_robin_counts_offers_per_queue() -> None:
    chosen = pick(
        Strategy.ROUND_ROBIN,
        snap(make_agent("a1", queues=["support", "sales"]), offered_in={"sales": T0 - 1}),
        snap(make_agent("a2"), offered_in={"support": T0 - 300}),
    )
    assert chosen == "a1"  # never offered in support; its sales offer does not count here


def test_fewest_calls_picks_the_agent_with_the_fewest_calls_today() -> None:
    chosen = pick(
        Strategy.FEWEST_CALLS,
        snap(make_agent("a1"), calls_taken=5, idle_since=T0 - 999),
        snap(make_agent("a2"), calls_taken=2),
        snap(make_agent("a3"), calls_taken=7),
    )
    assert chosen == "a2"


def test_least_talk_time_picks_the_agent_that_talked_least() -> None:
    chosen = pick(
        Strategy.LEAST_TALK_TIME,
        snap(make_agent("a1"), talk_seconds=300),
        snap(make_agent("a2"), talk_seconds=1200, idle_since=T0 - 999),
        snap(make_agent("a3"), talk_seconds=100),
    )
    assert chosen == "a3"


@pytest.mark.parametrize(
    ("strategy", "primary"),
    [
        (Strategy.LONGEST_IDLE, 900.0),
        (Strategy.MOST_SKILLED, -11.0),
        (Strategy.ROUND_ROBIN, 950.0),
        (Strategy.FEWEST_CALLS, 4.0),
        (Strategy.LEAST_TALK_TIME, 620.5),
    ],
)
def test_agent_sort_key_values_are_the_documented_formula(
    strategy: Strategy, primary: float
) -> None:
    agent = make_agent("a7", {"billing": 4, "spanish": 7, "sales": 9})
    stats = AgentStats(
        idle_since=900.0,
        calls_taken=4,
        talk_seconds=620.5,
        last_offered_in={"support": 950.0, "sales": 10.0},
    )
    key = agent_sort_key(agent, stats, strategy, "support", {"billing": 3, "spanish": 2, "x": 1})
    assert key == AgentKey(primary, 900.0, "a7")


@pytest.mark.parametrize("strategy", list(Strategy))
def test_no_strategy_ever_picks_an_ineligible_agent(strategy: Strategy) -> None:
    def best_on_paper(
        agent: Agent, status: Status = Status.AVAILABLE, registered: bool = True
    ) -> AgentSnapshot:
        """Top score under every strategy, so only eligibility can keep it out."""
        return snap(agent, status, idle_since=0.0, registered=registered)

    ineligible = [
        best_on_paper(make_agent("p1", {"billing": 10}), Status.PAUSED),
        best_on_paper(make_agent("p2", {"billing": 10}), registered=False),
        best_on_paper(make_agent("p3", {"billing": 10}, ["sales"])),
        best_on_paper(make_agent("p4", {"billing": 2, "x": 10})),
        best_on_paper(make_agent("p5", {"billing": 10}), Status.ON_CALL),
        best_on_paper(make_agent("p6", {"billing": 10}), Status.WRAP_UP),
        best_on_paper(make_agent("p7", {"billing": 10}), Status.OFFLINE),
    ]
    worst = snap(
        make_agent("z", {"billing": 3}),
        idle_since=T0,
        calls_taken=50,
        talk_seconds=9000,
        offered_in={"support": T0},
    )
    assert pick(strategy, *ineligible, worst, skills={"billing": 3}) == "z"
    assert pick(strategy, *ineligible, skills={"billing": 3}) is None
