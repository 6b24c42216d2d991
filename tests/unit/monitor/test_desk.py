"""The monitor desk: digest authentication, supervisors only, agent and conversation lookup."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from callcenter.domain.monitor import Mode, Supervisor
from callcenter.domain.routing import Agent
from callcenter.monitor.desk import (
    AnsweredOffers,
    Conversation,
    MonitorDesk,
    MonitorGranted,
    MonitorRefused,
    mode_codes,
)
from callcenter.sip.admission import InboundCall, Reject
from callcenter.sip.digest import parse_auth_params
from callcenter.sip.invite_auth import InviteAuthenticator
from tests.support.sip_register import authorization

T = TypeVar("T")
PASSWORDS = {"sue": "sue-password-1", "ann": "ann-password-1"}
SUE = Supervisor("sue", "Sue", "sue")
ANN = Agent("ann", "Ann", "ann", {}, ())
BOB = Agent("bob", "Bob", "bob", {}, ())


@dataclass
class Roster:
    agents: Mapping[str, Agent]

    def supervisor_by_username(self, username: str) -> Supervisor | None:
        return SUE if username == "sue" else None


@dataclass
class Offer:
    leg: str
    call_id: str
    agent_id: str
    answered: bool


def desk(elsewhere: Any = None) -> MonitorDesk:
    offers = {
        "leg-1": Offer("leg-1", "call-1", "ann", True),
        "leg-2": Offer("leg-2", "call-2", "bob", False),  # still ringing
    }
    return MonitorDesk(
        mode_codes("*50", "*51", "*52"),
        Roster({"ann": ANN, "bob": BOB}),
        AnsweredOffers(offers),
        InviteAuthenticator("callcenter", PASSWORDS.get, lambda: 1_700_000_000.0, secret=b"k" * 32),
        elsewhere,
    )


def invite(did: str, authorization: tuple[str, ...] = (), cseq: int = 1) -> InboundCall:
    return InboundCall(
        call_id="mon-1",
        caller="sue",
        caller_uri="sip:sue@127.0.0.1",
        caller_name="",
        did=did,
        source=("127.0.0.1", 5062),
        transport="udp",
        request_uri=f"sip:{did}@127.0.0.1:5060",
        cseq=cseq,
        authorization=authorization,
    )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never really suspends (no Redis behind this desk)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine suspended")


def dial(
    d: MonitorDesk, did: str, username: str = "sue", password: str = "sue-password-1"
) -> MonitorGranted | MonitorRefused | Reject:
    first = run(d.handle(invite(did)))
    assert isinstance(first, Reject) and first.code == 407
    challenge = parse_auth_params(first.headers["Proxy-Authenticate"].partition(" ")[2])
    value = authorization(
        challenge,
        username=username,
        password=password,
        uri=f"sip:{did}@127.0.0.1:5060",
        method="INVITE",
    )
    return run(d.handle(invite(did, (value,), cseq=2)))


def test_a_supervisor_is_granted_the_agents_live_conversation() -> None:
    granted = dial(desk(), "*51ann")
    assert granted == MonitorGranted(SUE, ANN, Mode.WHISPER, Conversation("call-1", "leg-1", "ann"))


def test_a_wrong_password_is_challenged_again() -> None:
    refused = dial(desk(), "*50ann", password="wrong-password")
    assert isinstance(refused, Reject) and refused.code == 407


def test_an_agent_is_not_a_supervisor() -> None:
    refused = dial(desk(), "*50ann", username="ann", password="ann-password-1")
    assert isinstance(refused, Reject) and refused.code == 403


def test_unknown_agents_and_agents_not_talking_are_explained() -> None:
    d = desk()
    assert dial(d, "*50zed") == MonitorRefused("There is no agent zed.", "unknown-agent")
    assert dial(d, "*50bob") == MonitorRefused("Agent Bob is not on a call.", "agent-not-on-call")


def test_other_numbers_are_no_monitor_codes() -> None:
    d = desk()
    assert d.is_monitor_code("*52ann") and not d.is_monitor_code("*40")
    assert not d.is_monitor_code("100")


class Elsewhere:
    async def front_for(self, agent_id: str) -> str | None:
        return "10.0.0.2:5060" if agent_id == "bob" else None


def test_an_agent_talking_through_another_controller_is_a_redirect() -> None:
    d = desk(Elsewhere())
    moved = dial(d, "*51bob")
    assert isinstance(moved, Reject) and moved.code == 302
    assert moved.headers == {"Contact": "<sip:*51bob@10.0.0.2:5060>"}
