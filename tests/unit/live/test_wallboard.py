"""The wallboard's figures and tile colours (pure)."""

from __future__ import annotations

import pytest

from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    AgentSnapshot,
    AgentState,
    Status,
    WaitingCall,
    queue_score,
)
from callcenter.domain.wallboard import (
    UNKNOWN_KPI,
    AgentLive,
    Level,
    QueueKpi,
    QueueLive,
    Thresholds,
    changes,
    entered_at_of,
    live_queues,
    next_level_change,
    queue_live,
    tile,
)

T0 = 1_700_000_000.25
LIMITS = Thresholds(
    waiting_amber=2,
    waiting_red=4,
    longest_wait_amber_seconds=20,
    longest_wait_red_seconds=40,
    service_level_amber=80,
    service_level_red=60,
)


def _agent(agent_id: str, state: AgentState, registered: bool = True) -> AgentSnapshot:
    return AgentSnapshot(
        Agent(agent_id, agent_id.title(), agent_id, {}, ("support",)),
        AgentRecord(agent_id, state),
        registered,
    )


def _queue(waiting: int = 0, oldest: float | None = None) -> QueueLive:
    return QueueLive("support", waiting, oldest, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("priority", [0, 1, 7, 999])
def test_the_entry_time_comes_back_from_the_queue_score(priority: int) -> None:
    call = WaitingCall("c1", "support", priority, T0)
    assert entered_at_of(queue_score(call)) == pytest.approx(T0, abs=0.01)


def test_queue_figures_count_members_by_what_they_do() -> None:
    agents = [
        _agent("ann", AgentState(Status.AVAILABLE, T0)),
        _agent("bob", AgentState(Status.AVAILABLE, T0), registered=False),  # no phone
        _agent("cat", AgentState(Status.ON_CALL, T0, call_id="c9", queue="support")),
        _agent("dan", AgentState(Status.RESERVED, T0, call_id="c8", queue="support")),
        _agent("eve", AgentState(Status.WRAP_UP, T0, None, "c7", "support", wrap_up_until=T0 + 5)),
        _agent("fay", AgentState(Status.PAUSED, T0, reason="lunch")),
        _agent("gus", AgentState(Status.OFFLINE, T0)),
    ]
    other = AgentSnapshot(
        Agent("hal", "Hal", "hal", {}, ("sales",)),
        AgentRecord("hal", AgentState(Status.AVAILABLE, T0)),
        True,
    )
    rows = [AgentLive.of(a) for a in [*agents, other]]
    live = queue_live("support", [T0 + 5, T0, T0 + 9], rows)
    assert (live.waiting, live.oldest_entered_at) == (3, T0)
    assert (live.members, live.staffed, live.available, live.busy, live.paused) == (7, 6, 1, 3, 1)
    assert live.by_status["available"] == 2 and live.by_status["offline"] == 1
    assert live.longest_wait(T0 + 12.5) == 12.5
    empty = queue_live("support", [], rows)
    assert (empty.waiting, empty.longest_wait(T0)) == (0, None)


def test_an_agent_row_shows_state_reason_and_call() -> None:
    row = AgentLive.of(_agent("cat", AgentState(Status.ON_CALL, T0, call_id="c9", queue="q")))
    assert (row.status, row.since, row.call_id, row.queue, row.name) == (
        Status.ON_CALL, T0, "c9", "q", "Cat",
    )  # fmt: skip
    paused = AgentLive.of(_agent("fay", AgentState(Status.PAUSED, T0, reason="lunch")))
    assert (paused.reason, paused.call_id) == ("lunch", None)


def test_a_quiet_queue_is_ok() -> None:
    assert tile(_queue(), UNKNOWN_KPI, LIMITS, T0).level is Level.OK


@pytest.mark.parametrize(
    ("waiting", "level"), [(1, Level.OK), (2, Level.AMBER), (3, Level.AMBER), (4, Level.RED)]
)
def test_waiting_calls_colour_the_tile(waiting: int, level: Level) -> None:
    assert tile(_queue(waiting, T0), UNKNOWN_KPI, LIMITS, T0).level is level


@pytest.mark.parametrize(
    ("waited", "level"), [(19.9, Level.OK), (20, Level.AMBER), (39.9, Level.AMBER), (40, Level.RED)]
)
def test_the_longest_wait_colours_the_tile(waited: float, level: Level) -> None:
    result = tile(_queue(1, T0), UNKNOWN_KPI, LIMITS, T0 + waited)
    assert result.level is level
    if level is Level.RED:
        assert result.reasons == ("longest wait >= 40 s",)


def test_service_level_colours_the_tile_only_when_known() -> None:
    assert tile(_queue(), QueueKpi(service_level=85), LIMITS, T0).level is Level.OK
    assert tile(_queue(), QueueKpi(service_level=70), LIMITS, T0).level is Level.AMBER
    assert tile(_queue(), QueueKpi(service_level=50), LIMITS, T0).level is Level.RED
    off = Thresholds(service_level_amber=None, service_level_red=None)
    assert tile(_queue(), QueueKpi(service_level=0), off, T0).level is Level.OK


def test_the_worst_figure_wins_and_names_itself() -> None:
    result = tile(_queue(4, T0), QueueKpi(service_level=70), LIMITS, T0 + 25)
    assert result.level is Level.RED
    assert result.reasons == ("waiting 4 >= 4",)


def test_the_next_change_is_the_next_threshold_the_longest_wait_crosses() -> None:
    assert next_level_change(_queue(), LIMITS, T0) is None
    assert next_level_change(_queue(1, T0), LIMITS, T0 + 1) == T0 + 20
    assert next_level_change(_queue(1, T0), LIMITS, T0 + 21) == T0 + 40
    assert next_level_change(_queue(1, T0), LIMITS, T0 + 41) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"waiting_amber": 5, "waiting_red": 4},
        {"longest_wait_amber_seconds": 50},
        {"service_level_red": 90},
        {"service_level_amber": 120},
    ],
)
def test_thresholds_out_of_order_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Thresholds(**bad)  # type: ignore[arg-type]


def test_changes_list_only_rows_that_differ() -> None:
    before = {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}}
    after = {"a": {"n": 1}, "b": {"n": 5}, "d": {"n": 4}}
    found = changes(before, after)
    assert dict(found.changed) == {"b": {"n": 5}, "d": {"n": 4}}
    assert found.removed == ("c",)
    assert not changes(after, dict(after))


def test_every_queue_gets_its_own_members_and_calls() -> None:
    rows = [
        AgentLive("ann", "Ann", Status.AVAILABLE, None, T0, True, None, None, ("a", "b")),
        AgentLive("bob", "Bob", Status.OFFLINE, None, T0, True, None, None, ("b",)),
        AgentLive("cat", "Cat", Status.AVAILABLE, None, T0, True, None, None, ("zz",)),
    ]
    found = live_queues({"a": [T0], "b": [], "c": [T0, T0 + 1]}, rows)
    assert {n: (q.waiting, q.members, q.staffed) for n, q in found.items()} == {
        "a": (1, 1, 1),
        "b": (0, 2, 1),
        "c": (2, 0, 0),
    }
