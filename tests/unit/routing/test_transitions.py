"""The agent state machine: every transition, its events, its refusals and the stats."""

from __future__ import annotations

import pytest

from callcenter.domain.routing import (
    TRANSITION_SLUGS,
    AgentRecord,
    AgentState,
    AgentStateChanged,
    Answer,
    CallReturned,
    CancelOffer,
    Command,
    Decline,
    EndWrapUp,
    Hangup,
    Login,
    Logout,
    NoAnswer,
    Pause,
    Ready,
    Reserve,
    Status,
    TransitionError,
    transition,
    wrap_up_due,
)
from callcenter.domain.routing.transitions import ACCEPTED_IN, ReturnReason
from tests.unit.routing.kit import T0


def run(record: AgentRecord, *steps: tuple[Command, float]) -> AgentRecord:
    for command, now in steps:
        record = transition(record, command, now).record
    return record


def in_state(status: Status) -> AgentRecord:
    """Agent a1 brought to ``status`` through the machine itself, by T0 + 3."""
    record = transition(AgentRecord.offline("a1", T0 - 100), Login(), T0).record
    paths: dict[Status, list[Command]] = {
        Status.OFFLINE: [Logout()],
        Status.AVAILABLE: [],
        Status.PAUSED: [Pause("lunch")],
        Status.RESERVED: [Reserve("c1", "support")],
        Status.ON_CALL: [Reserve("c1", "support"), Answer("c1")],
        Status.WRAP_UP: [Reserve("c1", "support"), Answer("c1"), Hangup("c1", 30)],
    }
    for step, command in enumerate(paths[status], start=1):
        record = transition(record, command, T0 + step).record
    assert record.state.status is status
    return record


def test_login_makes_the_agent_available_and_idle_from_now() -> None:
    result = transition(AgentRecord.offline("a1", T0 - 50), Login(), T0)
    assert result.record.state == AgentState(Status.AVAILABLE, T0)
    assert result.record.stats.idle_since == T0
    assert result.events == (
        AgentStateChanged("a1", Status.OFFLINE, Status.AVAILABLE, T0, None, None),
    )


def test_a_call_from_offer_to_wrap_up_end_updates_stats_and_times() -> None:
    record = run(
        in_state(Status.AVAILABLE),
        (Reserve("c1", "billing"), T0 + 10),
        (Answer("c1"), T0 + 15),
    )
    assert record.state == AgentState(Status.ON_CALL, T0 + 15, call_id="c1", queue="billing")
    assert record.stats.calls_taken == 1
    assert record.stats.last_offered_at == T0 + 10
    assert record.stats.offered_in("billing") == T0 + 10
    assert record.stats.offered_in("support") == 0.0
    assert record.state.seconds_in_state(T0 + 45) == 30

    record = transition(record, Hangup("c1", 30), T0 + 75).record
    assert record.state.status is Status.WRAP_UP
    assert record.state.wrap_up_until == T0 + 105
    assert record.stats.talk_seconds == 60
    assert record.stats.idle_since == T0 + 75

    assert not wrap_up_due(record.state, T0 + 104.9)
    with pytest.raises(TransitionError) as early:
        transition(record, EndWrapUp(), T0 + 104.9)
    assert early.value.error_id == "wrap-up-not-over"
    assert wrap_up_due(record.state, T0 + 105)
    record = transition(record, EndWrapUp(), T0 + 105).record
    assert record.state == AgentState(Status.AVAILABLE, T0 + 105)
    assert record.stats.idle_since == T0 + 75  # idle counts from the end of the call


def test_talk_time_accumulates_over_calls() -> None:
    record = run(
        in_state(Status.AVAILABLE),
        (Reserve("c1", "support"), T0 + 10),
        (Answer("c1"), T0 + 20),
        (Hangup("c1", 0), T0 + 80),
        (Reserve("c2", "support"), T0 + 90),
        (Answer("c2"), T0 + 100),
        (Hangup("c2", 0), T0 + 125),
    )
    assert record.stats.calls_taken == 2
    assert record.stats.talk_seconds == 85
    assert record.stats.new_day().calls_taken == 0
    assert record.stats.new_day().talk_seconds == 0
    assert record.stats.new_day().idle_since == T0 + 125


def test_no_wrap_up_time_goes_straight_to_available() -> None:
    record = transition(in_state(Status.ON_CALL), Hangup("c1", 0), T0 + 60).record
    assert record.state == AgentState(Status.AVAILABLE, T0 + 60)


def test_ready_ends_wrap_up_early() -> None:
    record = transition(in_state(Status.WRAP_UP), Ready(), T0 + 5).record
    assert record.state == AgentState(Status.AVAILABLE, T0 + 5)


def test_pause_keeps_its_reason_and_a_new_pause_replaces_it() -> None:
    record = transition(in_state(Status.AVAILABLE), Pause("lunch"), T0 + 5).record
    assert record.state == AgentState(Status.PAUSED, T0 + 5, reason="lunch")
    record = transition(record, Pause("training"), T0 + 9).record
    assert record.state == AgentState(Status.PAUSED, T0 + 9, reason="training")
    record = transition(record, Ready(), T0 + 20).record
    assert record.state.status is Status.AVAILABLE


def test_pause_from_wrap_up_is_allowed() -> None:
    record = transition(in_state(Status.WRAP_UP), Pause("coaching"), T0 + 5).record
    assert record.state.reason == "coaching"


def test_a_pause_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        transition(in_state(Status.AVAILABLE), Pause("  "), T0 + 5)


def test_ring_no_answer_pauses_the_agent_and_returns_the_call() -> None:
    result = transition(in_state(Status.RESERVED), NoAnswer("c1"), T0 + 20)
    assert result.record.state == AgentState(Status.PAUSED, T0 + 20, reason="no-answer")
    assert result.events[1] == CallReturned("c1", "support", "a1", "no-answer", T0 + 20, False)


@pytest.mark.parametrize(("busy", "reason"), [(False, "declined"), (True, "busy")])
def test_decline_or_busy_frees_the_agent_and_returns_the_call_excluding_it(
    busy: bool, reason: ReturnReason
) -> None:
    result = transition(in_state(Status.RESERVED), Decline("c1", busy=busy), T0 + 4)
    assert result.record.state == AgentState(Status.AVAILABLE, T0 + 4)
    assert result.events[1] == CallReturned("c1", "support", "a1", reason, T0 + 4, True)


def test_caller_hanging_up_during_the_offer_does_not_penalise_the_agent() -> None:
    before = in_state(Status.RESERVED)
    result = transition(before, CancelOffer("c1"), T0 + 4)
    assert result.record.state == AgentState(Status.AVAILABLE, T0 + 4)
    assert result.record.stats == before.stats  # idle time and counters untouched
    assert not any(isinstance(event, CallReturned) for event in result.events)


def test_logout_while_ringing_withdraws_the_offer() -> None:
    result = transition(in_state(Status.RESERVED), Logout(), T0 + 7)
    assert result.record.state == AgentState(Status.OFFLINE, T0 + 7)
    assert result.events == (
        AgentStateChanged("a1", Status.RESERVED, Status.OFFLINE, T0 + 7, None, "c1", "support"),
        CallReturned("c1", "support", "a1", "logged-out", T0 + 7, False),
    )


@pytest.mark.parametrize("status", [Status.AVAILABLE, Status.PAUSED, Status.WRAP_UP])
def test_logout_is_allowed_when_not_on_a_call(status: Status) -> None:
    result = transition(in_state(status), Logout(), T0 + 9)
    assert result.record.state == AgentState(Status.OFFLINE, T0 + 9)
    assert len(result.events) == 1


@pytest.mark.parametrize(
    ("status", "command", "slug"),
    [
        (Status.AVAILABLE, Login(), "agent-logged-in"),
        (Status.PAUSED, Login(), "agent-logged-in"),
        (Status.OFFLINE, Logout(), "agent-offline"),
        (Status.OFFLINE, Pause("lunch"), "agent-offline"),
        (Status.OFFLINE, Reserve("c9", "support"), "agent-offline"),
        (Status.ON_CALL, Logout(), "agent-on-call"),
        (Status.ON_CALL, Pause("lunch"), "agent-on-call"),
        (Status.RESERVED, Pause("lunch"), "agent-ringing"),
        (Status.RESERVED, Ready(), "agent-ringing"),
        (Status.AVAILABLE, Ready(), "agent-already-available"),
        (Status.PAUSED, Reserve("c9", "support"), "agent-not-available"),
        (Status.WRAP_UP, Reserve("c9", "support"), "agent-not-available"),
        (Status.RESERVED, Reserve("c9", "support"), "agent-not-available"),
        (Status.AVAILABLE, Answer("c1"), "agent-not-ringing"),
        (Status.ON_CALL, NoAnswer("c1"), "agent-not-ringing"),
        (Status.AVAILABLE, Hangup("c1", 0), "agent-not-on-call"),
        (Status.AVAILABLE, EndWrapUp(), "agent-not-in-wrap-up"),
        (Status.RESERVED, Answer("c2"), "wrong-call"),
        (Status.ON_CALL, Hangup("c2", 10), "wrong-call"),
    ],
)
def test_refused_commands_raise_with_a_slug_and_leave_the_state(
    status: Status, command: Command, slug: str
) -> None:
    record = in_state(status)
    with pytest.raises(TransitionError) as refused:
        transition(record, command, T0 + 50)
    assert refused.value.error_id == slug
    assert refused.value.agent_id == "a1"
    assert refused.value.status == status
    assert slug in TRANSITION_SLUGS


SAMPLES: list[Command] = [
    Login(),
    Logout(),
    Pause("lunch"),
    Ready(),
    Reserve("c1", "support"),
    Answer("c1"),
    NoAnswer("c1"),
    Decline("c1"),
    CancelOffer("c1"),
    Hangup("c1", 10),
    EndWrapUp(),
]


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("command", SAMPLES, ids=lambda c: type(c).__name__)
def test_each_command_is_accepted_exactly_in_its_documented_states(
    status: Status, command: Command
) -> None:
    record = in_state(status)
    later = T0 + 1_000  # past any wrap-up
    if status in ACCEPTED_IN[type(command)]:
        assert transition(record, command, later).record.agent_id == "a1"
    else:
        with pytest.raises(TransitionError):
            transition(record, command, later)


def test_every_command_has_a_table_row() -> None:
    assert {type(command) for command in SAMPLES} == set(ACCEPTED_IN)


def test_states_reject_impossible_combinations() -> None:
    with pytest.raises(ValueError):
        AgentState(Status.PAUSED, T0)
    with pytest.raises(ValueError):
        AgentState(Status.AVAILABLE, T0, reason="lunch")
    with pytest.raises(ValueError):
        AgentState(Status.ON_CALL, T0, call_id="c1")
    with pytest.raises(ValueError):
        AgentState(Status.WRAP_UP, T0, call_id="c1", queue="support")


def test_time_in_state_is_never_negative() -> None:
    assert AgentState(Status.AVAILABLE, T0).seconds_in_state(T0 - 3) == 0.0
