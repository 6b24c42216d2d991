"""Offer and bridge with real processes: a caller phone → the real SIP front → a real worker,
which dials the agent's phone back through the front and bridges the two.

The test plays the controller: it answers the caller, sends ``dial`` on ``answered`` and
``bridge`` on ``leg_answered``. The caller plays 440 Hz, the agent 1000 Hz; each records what
it hears, which proves two-way audio. The agent's phone either REGISTERs with digest auth to
the front's real registrar (first test) or is known to a static locator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred

from callcenter.aio import as_deferred
from callcenter.sip.admission import Admission, InboundCall, RouteTo
from callcenter.sip.front import FrontSettings, SipFront
from callcenter.sip.locator import Location, StaticLocator, Target, targets_from_bindings
from callcenter.sip.registrar import Registrar, RegistrarSettings
from callcenter.sip.transport import Flow
from callcenter.store.registrations import MemoryBindingStore
from tests.integration.media.conftest import Controller, Event, pool_settings
from tests.support.audio import dominant_frequency, tone
from tests.support.phone import (
    AgentResult,
    PhoneResult,
    RunningPhone,
    start_agent_phone,
    start_phone,
)
from tests.support.ports import free_port

CALLER_ID = "+442079460000"
DISPLAY = "Billing: +442079460000"


@dataclass
class PoolAdmission:
    """Inbound calls go to a worker of the pool, as the application does it."""

    ctl: Controller | None = None
    ended: list[str] = field(default_factory=list)

    def admit(self, call: InboundCall) -> Deferred[Admission]:
        assert self.ctl is not None
        return self.ctl.pool.reserve(call.call_id).addCallback(RouteTo)

    def dialog_ended(self, call_id: str) -> None:
        self.ended.append(call_id)


class RegistrarLocator:
    """The application's locator: the registrar's live bindings, most recent first."""

    def __init__(self, registrar: Registrar) -> None:
        self._registrar = registrar

    def locate(self, aor: str) -> Deferred[Location]:
        return as_deferred(self._registrar.bindings(aor)).addCallback(targets_from_bindings)


class Passwords:
    def lookup(self, username: str) -> str | None:
        return {"agent1": "s3cret"}.get(username)


@dataclass
class Env:
    front: SipFront
    port: int
    admission: PoolAdmission
    tmp: Path
    phones: list[RunningPhone] = field(default_factory=list)

    @property
    def agent_uri(self) -> str:
        return f"sip:agent1@127.0.0.1:{self.port}"

    def controller(self, on: Callable[[Controller, Event], None], **settings: Any) -> Controller:
        front_uri = f"sip:127.0.0.1:{self.port};lr"
        ctl = Controller(pool_settings(spare_workers=0, front_uri=front_uri, **settings), on=on)
        self.admission.ctl = ctl
        return ctl

    def agent(self, static: bool = True, **kwargs: Any) -> RunningPhone:
        """An agent phone; ``static``: the front finds it without a REGISTER."""
        port = free_port()
        if static:
            uri = f"sip:agent1@127.0.0.1:{port}"
            target = Target(uri, Flow("udp", ("127.0.0.1", port)))
            self.front.set_contact_locator(StaticLocator({"agent1": [target]}))
        phone = start_agent_phone(port=port, **kwargs)
        self.phones.append(phone)
        return phone

    def caller(self, **kwargs: Any) -> RunningPhone:
        phone = start_phone(f"sip:100@127.0.0.1:{self.port}", **kwargs)
        self.phones.append(phone)
        return phone


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    port = free_port()
    admission = PoolAdmission()
    front = SipFront(reactor, FrontSettings(host="127.0.0.1", port=port, tcp=False), admission)
    front.start()
    environment = Env(front, port, admission, tmp_path)
    yield environment
    for phone in environment.phones:
        phone.kill()
    pytest_twisted.blockon(front.stop())


def offer_then_bridge(
    env: Env, timeout: float = 10.0, on_ringing: Callable[[Controller, str], None] | None = None
) -> Callable[[Controller, Event], None]:
    """The controller's part: dial the agent when the caller is answered, bridge on answer."""

    def script(ctl: Controller, event: Event) -> None:
        kind, call = event["ev"], event.get("call", "")
        if kind == "answered" and not call.startswith("leg-"):
            ctl.pool.send(
                f"leg-{call}",
                {
                    "cmd": "dial",
                    "call": f"leg-{call}",
                    "peer": call,
                    "uri": env.agent_uri,
                    "caller_id": CALLER_ID,
                    "display": DISPLAY,
                    "timeout": timeout,
                    "headers": {"X-Queue": "billing"},
                },
            )
        elif kind == "leg_answered":
            ctl.pool.send(call, {"cmd": "bridge", "a": call[len("leg-") :], "b": call})
        elif kind == "leg_ringing" and on_ringing is not None:
            on_ringing(ctl, call)

    return script


def wait_agent(phone: RunningPhone) -> Deferred[AgentResult]:
    return threads.deferToThread(phone.wait_agent)


def wait_caller(phone: RunningPhone) -> Deferred[PhoneResult]:
    return threads.deferToThread(phone.wait)


def leg_events(ctl: Controller) -> list[str]:
    return [e["ev"] for e in ctl.events if str(e.get("call", "")).startswith("leg-")]


@pytest_twisted.inlineCallbacks
def test_registered_agent_and_caller_hear_each_other_and_the_caller_ends_both(
    env: Env, tmp_path: Path
) -> Any:
    registrar = Registrar(
        RegistrarSettings(realm="callcenter.test"), Passwords(), MemoryBindingStore(), time.time
    )
    env.front.add_method_service("REGISTER", registrar)
    env.front.set_contact_locator(RegistrarLocator(registrar))
    ctl = env.controller(offer_then_bridge(env))
    try:
        agent = env.agent(
            static=False,
            register=f"sip:127.0.0.1:{env.port}",
            username="agent1",
            password="s3cret",
            answer_after=1.0,
            duration=30.0,
            play=tone(tmp_path / "1000.wav", 1000),
            record_to=tmp_path / "agent-heard.wav",
        )
        ready = yield threads.deferToThread(agent.wait_ready)
        assert ready["registered"] and ready["register_code"] == 200, ready
        caller = env.caller(
            play=tone(tmp_path / "440.wav", 440),
            loop=True,
            record_to=tmp_path / "caller-heard.wav",
            duration=5.0,
        )
        heard_by_caller: PhoneResult = yield wait_caller(caller)
        heard_by_agent: AgentResult = yield wait_agent(agent)
        assert heard_by_caller.error is None, heard_by_caller.stderr
        assert heard_by_agent.error is None, heard_by_agent.stderr
        assert agent.process.returncode == 0, heard_by_agent.stderr[-2000:]  # clean pjsua exit
        assert heard_by_caller.hangup_by == "local"
        assert heard_by_agent.answered and heard_by_agent.hangup_by == "remote"
        assert heard_by_agent.from_user == CALLER_ID
        assert heard_by_agent.from_display == DISPLAY
        assert heard_by_agent.headers.get("X-Queue") == "billing"
        assert 0.8 < heard_by_agent.ringing_seconds < 3.0
        assert abs(dominant_frequency(tmp_path / "agent-heard.wav") - 440) <= 20
        assert abs(dominant_frequency(tmp_path / "caller-heard.wav") - 1000) <= 20
        leg = f"leg-{heard_by_caller.call_id}"
        yield ctl.wait_event("hangup", leg)
        assert leg_events(ctl) == ["leg_ringing", "leg_answered", "hangup"]
        assert ctl.of("hangup", leg)[0]["by"] == "local"  # the worker ended it with the caller
        assert ctl.of("hangup", heard_by_caller.call_id)[0]["by"] == "remote"
        assert ctl.of("error") == []
        assert ctl.pool.stats().calls == 0 and ctl.pool.stats().legs == 0
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_the_agent_hanging_up_ends_the_callers_call(env: Env, tmp_path: Path) -> Any:
    ctl = env.controller(offer_then_bridge(env))
    try:
        agent = env.agent(answer_after=0.5, duration=2.0)
        yield threads.deferToThread(agent.wait_ready)
        caller = env.caller(duration=30.0)
        heard_by_caller: PhoneResult = yield wait_caller(caller)
        heard_by_agent: AgentResult = yield wait_agent(agent)
        assert heard_by_agent.hangup_by == "local" and heard_by_agent.from_user == CALLER_ID
        assert heard_by_caller.hangup_by == "remote", heard_by_caller
        assert heard_by_caller.connected_seconds < 10
        call = heard_by_caller.call_id
        yield ctl.wait_event("hangup", call)
        assert ctl.of("hangup", f"leg-{call}")[0]["by"] == "remote"
        assert ctl.of("hangup", call)[0]["by"] == "local"
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_ring_timeout_is_a_408_and_the_phone_stops_ringing(env: Env) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        offer(ctl, event)
        if event["ev"] == "leg_failed":
            ctl.send(event["call"][len("leg-") :], cmd="hangup")

    offer = offer_then_bridge(env, timeout=2.0)
    ctl = env.controller(script)
    try:
        agent = env.agent(answer_after=None, wait=15.0)
        yield threads.deferToThread(agent.wait_ready)
        caller = env.caller(duration=30.0)
        heard_by_agent: AgentResult = yield wait_agent(agent)
        yield wait_caller(caller)
        assert heard_by_agent.incoming and not heard_by_agent.answered
        assert heard_by_agent.disconnect_code == 487  # CANCELled: it stopped ringing
        assert 1.5 < heard_by_agent.ringing_seconds < 4.0
        (failed,) = ctl.of("leg_failed")
        assert (failed["code"], failed["reason"]) == (408, "Request Timeout")
        assert leg_events(ctl) == ["leg_ringing", "leg_failed"]
    finally:
        yield ctl.pool.stop()


@pytest.mark.parametrize("code", [486, 603])
@pytest_twisted.inlineCallbacks
def test_an_agent_who_rejects_gives_leg_failed_with_that_code(env: Env, code: int) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        offer(ctl, event)
        if event["ev"] == "leg_failed":
            ctl.send(event["call"][len("leg-") :], cmd="hangup")

    offer = offer_then_bridge(env)
    ctl = env.controller(script)
    try:
        agent = env.agent(answer_after=0.5, reject=code)
        yield threads.deferToThread(agent.wait_ready)
        caller = env.caller(duration=30.0)
        heard_by_agent: AgentResult = yield wait_agent(agent)
        yield wait_caller(caller)
        assert heard_by_agent.status_code == code and not heard_by_agent.answered
        (failed,) = ctl.of("leg_failed")
        assert failed["code"] == code
        assert env.front.dialog_count() == 0
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_cancel_dial_while_ringing_withdraws_the_offer(env: Env) -> Any:
    def withdraw(ctl: Controller, leg: str) -> None:
        ctl.send(leg, cmd="cancel_dial")

    def script(ctl: Controller, event: Event) -> None:
        offer(ctl, event)
        if event["ev"] == "leg_failed":
            ctl.send(event["call"][len("leg-") :], cmd="hangup")

    offer = offer_then_bridge(env, on_ringing=withdraw)
    ctl = env.controller(script)
    try:
        agent = env.agent(answer_after=None, wait=15.0)
        yield threads.deferToThread(agent.wait_ready)
        caller = env.caller(duration=30.0)
        heard_by_agent: AgentResult = yield wait_agent(agent)
        yield wait_caller(caller)
        assert heard_by_agent.incoming and heard_by_agent.disconnect_code == 487
        assert heard_by_agent.ringing_seconds < 2.0
        (failed,) = ctl.of("leg_failed")
        assert failed["code"] == 487
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_a_caller_who_hangs_up_during_the_offer_stops_the_agents_phone(env: Env) -> Any:
    ctl = env.controller(offer_then_bridge(env, timeout=20.0))
    try:
        agent = env.agent(answer_after=None, wait=15.0)
        yield threads.deferToThread(agent.wait_ready)
        caller = env.caller(duration=1.5)  # hangs up while the agent still rings
        heard_by_agent: AgentResult = yield wait_agent(agent)
        heard_by_caller: PhoneResult = yield wait_caller(caller)
        assert heard_by_caller.hangup_by == "local"
        assert heard_by_agent.incoming and heard_by_agent.disconnect_code == 487
        assert heard_by_agent.ringing_seconds < 3.0
        (failed,) = ctl.of("leg_failed")
        assert failed["code"] == 487
    finally:
        yield ctl.pool.stop()


@pytest_twisted.inlineCallbacks
def test_an_unregistered_agent_is_480(env: Env) -> Any:
    def script(ctl: Controller, event: Event) -> None:
        offer(ctl, event)
        if event["ev"] == "leg_failed":
            ctl.send(event["call"][len("leg-") :], cmd="hangup")

    offer = offer_then_bridge(env)
    env.front.set_contact_locator(StaticLocator({"agent1": []}))
    ctl = env.controller(script)
    try:
        caller = env.caller(duration=30.0)
        yield wait_caller(caller)
        (failed,) = ctl.of("leg_failed")
        assert failed["code"] == 480
    finally:
        yield ctl.pool.stop()
