"""Feature codes: parsing, INVITE digest authentication, the transition and what is said."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from callcenter.agents.errors import AgentTransitionError
from callcenter.agents.feature_codes import (
    FeatureCodeDesk,
    FeatureCodeOutcome,
    parse_feature_code,
)
from callcenter.config import FeatureCodes
from callcenter.domain.routing import (
    Agent,
    AgentRecord,
    Command,
    Login,
    Logout,
    Pause,
    Ready,
    Status,
    Transition,
    TransitionError,
    transition,
)
from callcenter.sip.admission import InboundCall, Reject
from callcenter.sip.digest import SHA256, parse_auth_params
from callcenter.sip.registrar import FailureGuard
from tests.support.sip_register import authorization

T = TypeVar("T")
REALM = "callcenter"
PASSWORDS = {"ann": "ann-password-1"}
URI = "sip:*40@127.0.0.1:5060"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never really suspends (the fakes answer at once)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine suspended")


class FakeAgents:
    """AgentsService's commands on the pure state machine, in memory."""

    def __init__(self) -> None:
        self.agent = Agent("a1", "Ann", "ann", {}, ())
        self.record = AgentRecord.offline("a1", 0.0)
        self.applied: list[Command] = []

    def agent_by_username(self, username: str) -> Agent | None:
        return self.agent if username == self.agent.sip_username else None

    async def apply(self, agent_id: str, command: Command) -> Transition:
        assert agent_id == "a1"
        try:
            done = transition(self.record, command, 100.0)
        except TransitionError as refused:
            raise AgentTransitionError(refused) from refused
        self.record = done.record
        self.applied.append(command)
        return done


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def desk(agents: FakeAgents, clock: Clock | None = None, **kw: Any) -> FeatureCodeDesk:
    return FeatureCodeDesk(
        FeatureCodes(), agents, PASSWORDS.get, REALM, clock or Clock(), secret=b"k" * 32, **kw
    )


def invite(did: str = "*40", authorization: tuple[str, ...] = (), cseq: int = 1) -> InboundCall:
    return InboundCall(
        call_id="fc-1",
        caller="ann",
        caller_uri="sip:ann@127.0.0.1",
        caller_name="",
        did=did,
        source=("127.0.0.1", 5062),
        transport="udp",
        request_uri=f"sip:{did}@127.0.0.1:5060",
        cseq=cseq,
        authorization=authorization,
    )


def challenge(reject: Reject) -> dict[str, str]:
    assert (reject.code, reject.reason) == (407, "Proxy Authentication Required")
    value = reject.headers["Proxy-Authenticate"]
    assert value.startswith("Digest ")
    return parse_auth_params(value.partition(" ")[2])


def dial(
    d: FeatureCodeDesk, did: str, password: str = "ann-password-1", username: str = "ann"
) -> FeatureCodeOutcome | Reject:
    """A phone's two INVITEs: unauthenticated (407), then with credentials."""
    first = run(d.handle(invite(did)))
    assert isinstance(first, Reject)
    value = authorization(
        challenge(first),
        username=username,
        password=password,
        uri=f"sip:{did}@127.0.0.1:5060",
        method="INVITE",
    )
    return run(d.handle(invite(did, (value,), cseq=2)))


@pytest.mark.parametrize(
    ("did", "command"),
    [
        ("*40", Login()),
        ("*41", Logout()),
        ("*43", Ready()),
        ("*42", Pause("break")),
        ("*421", Pause("code 1")),
        ("*4207", Pause("code 07")),
        ("%2A40", Login()),
        ("100", None),
        ("*44", None),
        ("*42x", None),
        ("*42123456789", None),
        ("*42\u0661", None),  # a non-ASCII digit is no reason code
    ],
)
def test_dialled_numbers_map_to_commands(did: str, command: Command | None) -> None:
    assert parse_feature_code(did, FeatureCodes()) == command


def test_codes_come_from_the_config_and_exact_codes_win_over_the_pause_prefix() -> None:
    codes = FeatureCodes(login="*9", logout="*91", pause="*9", ready="*93")
    assert parse_feature_code("*9", codes) == Login()
    assert parse_feature_code("*91", codes) == Logout()
    assert parse_feature_code("*92", codes) == Pause("code 2")


def test_an_invite_without_credentials_is_challenged_with_md5() -> None:
    agents = FakeAgents()
    reject = run(desk(agents).handle(invite("*40")))
    assert isinstance(reject, Reject)
    params = challenge(reject)
    assert params["realm"] == REALM
    assert params["algorithm"] == "MD5"
    assert params["qop"] == "auth"
    assert agents.applied == []


def test_login_with_the_right_password_logs_the_agent_in_and_says_so() -> None:
    agents = FakeAgents()
    outcome = dial(desk(agents), "*40")
    assert outcome == FeatureCodeOutcome("a1", "Agent Ann logged in.", Status.AVAILABLE, True)
    assert agents.applied == [Login()]


def test_pause_with_a_reason_code_then_ready_then_logout() -> None:
    agents = FakeAgents()
    d = desk(agents)
    dial(d, "*40")
    paused = dial(d, "*425")
    assert isinstance(paused, FeatureCodeOutcome)
    assert (paused.text, paused.status) == ("Agent Ann paused.", Status.PAUSED)
    assert agents.record.state.reason == "code 5"
    ready = dial(d, "*43")
    assert isinstance(ready, FeatureCodeOutcome) and ready.text == "Agent Ann ready."
    out = dial(d, "*41")
    assert isinstance(out, FeatureCodeOutcome) and out.status is Status.OFFLINE


def test_a_refused_transition_is_said_not_rejected() -> None:
    agents = FakeAgents()
    d = desk(agents)
    dial(d, "*40")
    again = dial(d, "*40")
    assert again == FeatureCodeOutcome(
        "a1", "Already logged in.", Status.AVAILABLE, False, "agent-logged-in"
    )
    agents.record = AgentRecord.offline("a1", 0.0)
    ready = dial(d, "*43")
    assert isinstance(ready, FeatureCodeOutcome)
    assert (ready.text, ready.error_id) == ("You are not logged in.", "agent-offline")


def test_a_wrong_password_is_challenged_again_and_changes_nothing() -> None:
    agents = FakeAgents()
    reject = dial(desk(agents), "*40", password="not-the-password")
    assert isinstance(reject, Reject)
    challenge(reject)
    assert agents.applied == []


def test_an_unknown_user_is_challenged_again() -> None:
    agents = FakeAgents()
    assert isinstance(dial(desk(agents), "*40", username="mallory"), Reject)
    assert agents.applied == []


def test_repeated_failures_block_the_source_with_the_shared_guard() -> None:
    agents = FakeAgents()
    guard = FailureGuard(max_failures=3, window=60, block_seconds=300)
    d = desk(agents, guard=guard)
    for _ in range(3):
        dial(d, "*40", password="guess-guess")
    blocked = run(d.handle(invite("*40")))
    assert isinstance(blocked, Reject) and blocked.code == 403
    # the right password does not help while blocked
    assert isinstance(dial_blocked(d), Reject)
    assert agents.applied == []


def dial_blocked(d: FeatureCodeDesk) -> FeatureCodeOutcome | Reject:
    return run(d.handle(invite("*40", ('Digest username="ann"',))))


def test_a_replayed_authorization_is_not_accepted_twice() -> None:
    agents = FakeAgents()
    d = desk(agents)
    first = run(d.handle(invite("*40")))
    assert isinstance(first, Reject)
    value = authorization(
        challenge(first), username="ann", password="ann-password-1", uri=URI, method="INVITE"
    )
    assert isinstance(run(d.handle(invite("*40", (value,), cseq=2))), FeatureCodeOutcome)
    replay = run(d.handle(invite("*40", (value,), cseq=3)))
    assert isinstance(replay, Reject) and replay.code == 407
    assert "stale=true" in replay.headers["Proxy-Authenticate"]
    assert agents.applied == [Login()]


def test_an_expired_nonce_gets_a_stale_challenge() -> None:
    agents = FakeAgents()
    clock = Clock()
    d = desk(agents, clock)
    first = run(d.handle(invite("*40")))
    assert isinstance(first, Reject)
    value = authorization(
        challenge(first), username="ann", password="ann-password-1", uri=URI, method="INVITE"
    )
    clock.now += 3600
    stale = run(d.handle(invite("*40", (value,), cseq=2)))
    assert isinstance(stale, Reject) and "stale=true" in stale.headers["Proxy-Authenticate"]


def test_credentials_for_another_uri_or_method_fail() -> None:
    agents = FakeAgents()
    d = desk(agents)
    first = run(d.handle(invite("*40")))
    assert isinstance(first, Reject)
    params = challenge(first)
    other_uri = authorization(
        params,
        username="ann",
        password="ann-password-1",
        uri="sip:*41@127.0.0.1:5060",
        method="INVITE",
    )
    reject = run(d.handle(invite("*40", (other_uri,), cseq=2)))
    assert isinstance(reject, Reject) and reject.code == 400
    register = authorization(
        params, username="ann", password="ann-password-1", uri=URI, method="REGISTER", nc=2
    )
    assert isinstance(run(d.handle(invite("*40", (register,), cseq=3))), Reject)
    assert agents.applied == []


def test_a_sha256_desk_challenges_with_sha256() -> None:
    agents = FakeAgents()
    d = desk(agents, algorithm=SHA256)
    first = run(d.handle(invite("*40")))
    assert isinstance(first, Reject)
    assert challenge(first)["algorithm"] == SHA256
    assert isinstance(dial(d, "*40"), FeatureCodeOutcome)


def test_unreadable_credentials_are_a_400() -> None:
    reject = run(desk(FakeAgents()).handle(invite("*40", ('Digest realm="callcenter", x',))))
    assert isinstance(reject, Reject) and reject.code == 400


def test_credentials_of_another_realm_are_ignored() -> None:
    other = 'Digest username="ann", realm="elsewhere", nonce="n", uri="u", response="ab"'
    reject = run(desk(FakeAgents()).handle(invite("*40", (other,))))
    assert isinstance(reject, Reject) and reject.code == 407


def test_a_digest_uri_without_the_user_part_is_accepted_as_sipp_sends_it() -> None:
    agents = FakeAgents()
    d = desk(agents)
    first = run(d.handle(invite("*40")))
    assert isinstance(first, Reject)
    value = authorization(
        challenge(first),
        username="ann",
        password="ann-password-1",
        uri="sip:127.0.0.1:5060",
        method="INVITE",
    )
    assert isinstance(run(d.handle(invite("*40", (value,), cseq=2))), FeatureCodeOutcome)


@pytest.mark.parametrize(
    ("digest_uri", "same"),
    [
        ("sip:*40@127.0.0.1:5060", True),
        ("sip:*40@LOCALHOST:5060", False),  # another host
        ("sip:127.0.0.1:5060", True),  # sipp: host and port, no user
        ("sip:127.0.0.1:5070", False),  # another port
        ("sip:*41@127.0.0.1:5060", False),  # another code
        ("sip:10.0.0.1:5060", False),
        ("not a uri", False),
    ],
)
def test_digest_uri_must_name_the_request_uri(digest_uri: str, same: bool) -> None:
    from callcenter.sip.invite_auth import _same_uri

    assert _same_uri(digest_uri, "sip:*40@127.0.0.1:5060") is same
