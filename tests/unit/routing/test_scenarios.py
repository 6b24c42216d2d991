"""State machine and policy together on a fake clock: RONA, decline, logout, wrap-up."""

from __future__ import annotations

from callcenter.domain.routing import (
    Answer,
    CancelOffer,
    Decline,
    EndWrapUp,
    Hangup,
    Login,
    Logout,
    NoAnswer,
    Queue,
    Ready,
    Status,
    Strategy,
)
from tests.unit.routing.kit import T0, Floor, call, make_agent


def floor_with(*names: str, queue: Queue | None = None) -> Floor:
    """Agents logged in one second apart, so the first named is the longest idle."""
    floor = Floor(queues={"support": queue or Queue("support", wrap_up_seconds=30)})
    for offset, name in enumerate(names):
        floor.hire(make_agent(name), T0 - 100)
        floor.do(name, Login(), T0 + offset)
    return floor


def test_ring_no_answer_pauses_the_agent_and_the_call_keeps_its_place() -> None:
    floor = floor_with("a", "b")
    floor.arrive(call("c1", entered_at=T0 + 10))
    assert floor.route("c1", T0 + 10).agent_id == "a"
    floor.do("b", Logout(), T0 + 11)  # b leaves, so only a could have taken calls
    floor.arrive(call("c2", entered_at=T0 + 15))
    floor.do("a", NoAnswer("c1"), T0 + 30)
    assert floor.status("a") is Status.PAUSED
    assert floor.records["a"].state.reason == "no-answer"
    assert floor.route("c1", T0 + 30).agent_id is None  # the paused agent is not offered it
    floor.do("b", Login(), T0 + 40)
    assert floor.free("b", T0 + 40).call_id == "c1"  # back at the head, ahead of c2


def test_decline_goes_to_the_next_agent_and_the_decliner_can_retry_later() -> None:
    floor = floor_with("a", "b")
    floor.arrive(call("c1", entered_at=T0 + 10))
    assert floor.route("c1", T0 + 10).agent_id == "a"
    floor.do("a", Decline("c1"), T0 + 12)
    assert floor.status("a") is Status.AVAILABLE
    assert floor.route("c1", T0 + 12).agent_id == "b"
    floor.do("b", Decline("c1", busy=True), T0 + 13)
    assert floor.route("c1", T0 + 14).agent_id is None  # both refused within 30 s
    retry = floor.queues["support"].decline_retry_seconds
    assert floor.route("c1", T0 + 12 + retry).agent_id == "a"


def test_logout_while_ringing_puts_the_call_back_for_another_agent() -> None:
    floor = floor_with("a", "b")
    floor.arrive(call("c1", entered_at=T0 + 10))
    floor.route("c1", T0 + 10)
    floor.do("a", Logout(), T0 + 12)
    assert floor.status("a") is Status.OFFLINE
    assert "c1" in floor.waiting
    assert floor.route("c1", T0 + 12).agent_id == "b"


def test_caller_hangup_during_offer_leaves_the_agent_first_in_line() -> None:
    floor = floor_with("a", "b")
    floor.arrive(call("c1", entered_at=T0 + 10))
    floor.route("c1", T0 + 10)
    floor.do("a", CancelOffer("c1"), T0 + 12)
    floor.offered.pop("c1")  # the adapter forgets the abandoned call
    floor.arrive(call("c2", entered_at=T0 + 20))
    assert floor.route("c2", T0 + 20).agent_id == "a"


def test_wrap_up_keeps_the_agent_out_until_it_ends() -> None:
    floor = floor_with("a", "b")
    floor.arrive(call("c1", entered_at=T0 + 10))
    floor.route("c1", T0 + 10)
    floor.do("a", Answer("c1"), T0 + 12)
    floor.do("b", Logout(), T0 + 13)
    floor.do("a", Hangup("c1", floor.queues["support"].wrap_up_seconds), T0 + 60)
    floor.arrive(call("c2", entered_at=T0 + 70))
    assert floor.route("c2", T0 + 70).agent_id is None
    floor.do("a", EndWrapUp(), T0 + 90)
    assert floor.free("a", T0 + 90).call_id == "c2"


def test_round_robin_rotates_through_every_agent() -> None:
    floor = floor_with("a", "b", "c", queue=Queue("support", strategy=Strategy.ROUND_ROBIN))
    order = []
    for n in range(6):
        now = T0 + 100 + 10 * n
        floor.arrive(call(f"c{n}", entered_at=now))
        chosen = floor.route(f"c{n}", now).agent_id
        assert chosen is not None
        order.append(chosen)
        floor.do(chosen, Answer(f"c{n}"), now + 1)
        floor.do(chosen, Hangup(f"c{n}", 0), now + 2)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_longest_idle_serves_the_agent_whose_last_call_ended_first() -> None:
    floor = floor_with("a", "b", queue=Queue("support", wrap_up_seconds=0))
    for name, start, end in (("a", T0 + 10, T0 + 80), ("b", T0 + 20, T0 + 50)):
        floor.arrive(call(f"for-{name}", entered_at=start))
        assert floor.route(f"for-{name}", start).agent_id == name
        floor.do(name, Answer(f"for-{name}"), start + 1)
        floor.do(name, Hangup(f"for-{name}", 0), end)
    floor.arrive(call("next", entered_at=T0 + 100))
    assert floor.route("next", T0 + 100).agent_id == "b"


def test_an_unregistered_agent_is_never_offered_a_call() -> None:
    floor = Floor(queues={"support": Queue("support")})
    floor.hire(make_agent("phoneless"), T0, registered=False)
    floor.do("phoneless", Login(), T0)
    floor.arrive(call("c1", entered_at=T0 + 1))
    assert floor.route("c1", T0 + 1).agent_id is None
    floor.registered.add("phoneless")
    assert floor.route("c1", T0 + 2).agent_id == "phoneless"


def test_a_ready_agent_after_rona_gets_calls_again() -> None:
    floor = floor_with("a")
    floor.arrive(call("c1", entered_at=T0 + 10))
    floor.route("c1", T0 + 10)
    floor.do("a", NoAnswer("c1"), T0 + 30)
    floor.do("a", Ready(), T0 + 60)
    assert floor.free("a", T0 + 60).call_id == "c1"
