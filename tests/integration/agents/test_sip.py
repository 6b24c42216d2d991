"""Agents over SIP through a real front: REGISTER → routing, and feature codes with sipp.

The front runs in-process with the registrar (hooked to the AgentsService) and an admission
that hands feature codes to the :class:`FeatureCodeDesk`; an authenticated code is routed to
a sipp UAS standing in for the media worker that says the confirmation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred

from callcenter.agents.feature_codes import FeatureCodeDesk, FeatureCodeOutcome
from callcenter.aio import as_deferred
from callcenter.config import FeatureCodes
from callcenter.domain.routing import Agent, Queue, Status
from callcenter.roster import Roster
from callcenter.sip.admission import Admission, InboundCall, Reject, RouteTo
from callcenter.sip.digest import SHA256
from callcenter.sip.front import FrontSettings, SipFront
from callcenter.sip.registrar import LookupBy, Registrar, RegistrarSettings
from tests.integration.agents.kit import Clock, Env, agents_env, in_task, wait
from tests.integration.sip.test_register import UdpPhone
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.sipp import SippResult, SippRun, scenario

HERE = Path(__file__).resolve().parent
# tests.support.sip_register's client authenticates as agent1 with password "secret".
AGENT = Agent("ann", "Ann", "agent1", {}, ("billing",))
ROSTER = Roster({"ann": AGENT}, {"billing": Queue("billing")}, {"agent1": "secret"})


class WallClock(Clock):
    """Real SIP exchanges need real time (nonces, binding expiry)."""

    def __call__(self) -> float:
        return time.time()


@dataclass
class DeskAdmission:
    """The call service's part: feature codes to the desk, the rest refused."""

    desk: FeatureCodeDesk
    worker: tuple[str, int] = ("127.0.0.1", 1)
    outcomes: list[FeatureCodeOutcome] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def admit(self, call: InboundCall) -> Deferred[Admission]:
        async def decide() -> Admission:
            if not self.desk.is_feature_code(call.did):
                return Reject(404, "Not Found")
            result = await self.desk.handle(call)
            if isinstance(result, Reject):
                self.rejects.append(result)
                return result
            self.outcomes.append(result)
            return RouteTo(self.worker)  # the worker says result.text and hangs up

        return as_deferred(decide())

    def dialog_ended(self, call_id: str) -> None:
        pass


@dataclass
class SipEnv:
    env: Env
    front: SipFront
    admission: DeskAdmission
    port: int


@asynccontextmanager
async def sip_env(server: RedisServer) -> AsyncIterator[SipEnv]:
    async with agents_env(server.url, ROSTER, WallClock()) as env:
        desk = FeatureCodeDesk(FeatureCodes(), env.service, ROSTER.password, "callcenter")
        admission = DeskAdmission(desk)
        port = free_port()
        front = SipFront(reactor, FrontSettings(host="127.0.0.1", port=port), admission)
        registrar = Registrar(
            RegistrarSettings(),
            LookupBy(ROSTER.password),
            env.bindings,
            on_bindings=env.service.on_bindings,
        )
        front.add_method_service("REGISTER", registrar)
        front.start()
        try:
            yield SipEnv(env, front, admission, port)
        finally:
            await wait(front.stop())


@in_task
async def test_register_and_unregister_reach_routing(redis_server: RedisServer) -> None:
    async with sip_env(redis_server) as s:
        phone = UdpPhone(s.port)
        try:
            response = await wait(
                threads.deferToThread(phone.register, "secret", SHA256, expires=300)
            )
            assert response.status == 200, response
            assert (await s.env.service.get("ann")).registered is True
            [snapshot] = await s.env.state.snapshots(["ann"], time.time())
            assert snapshot.registered  # what routing's match reads
            gone = await wait(
                threads.deferToThread(
                    phone.register, "secret", SHA256, cseq=10, contacts=["*"], expires=0
                )
            )
            assert gone.status == 200, gone
            assert (await s.env.service.get("ann")).registered is False
            [snapshot] = await s.env.state.snapshots(["ann"], time.time())
            assert not snapshot.registered
        finally:
            phone.close()


def _sipp(s: SipEnv, tmp_path: Path, code: str, password: str) -> SippRun:
    return SippRun(
        HERE / "uac_feature_code.xml",
        tmp_path / "sipp",
        local=("127.0.0.1", free_port()),
        remote=("127.0.0.1", s.port),
        service=code,
        duration_ms=100,
        media_port=free_port(),
        extra_args=["-au", "agent1", "-ap", password],
        timeout_s=10.0,
    )


@in_task
async def test_sipp_dials_star_40_with_digest_and_logs_the_agent_in(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with sip_env(redis_server) as s:
        worker = SippRun(
            scenario("uas_answer"),
            tmp_path / "sipp",
            local=("127.0.0.1", free_port()),
            media_port=free_port(),
            duration_ms=50,
            timeout_s=10.0,
        ).start()
        s.admission.worker = worker.local
        try:
            caller = _sipp(s, tmp_path, "*40", "secret")
            result: SippResult = await wait(threads.deferToThread(caller.run))
            assert result.ok, result.describe()
            log = caller.messages.read_text()
            assert "SIP/2.0 407 Proxy Authentication Required" in log
            assert "Proxy-Authorization: Digest" in log
            assert [(o.agent_id, o.text, o.status) for o in s.admission.outcomes] == [
                ("ann", "Agent Ann logged in.", Status.AVAILABLE)
            ]
            assert (await s.env.service.get("ann")).status is Status.AVAILABLE
            assert s.env.heard.available == ["ann"]
            worker_result = await wait(threads.deferToThread(worker.wait))
            assert worker_result.ok, worker_result.describe()
        finally:
            worker.kill()


@in_task
async def test_sipp_with_a_wrong_password_is_never_let_through(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with sip_env(redis_server) as s:
        caller = _sipp(s, tmp_path, "*40", "not-the-password")
        result: SippResult = await wait(threads.deferToThread(caller.run))
        assert not result.ok  # the second INVITE gets 407 again, not 200
        assert caller.messages.read_text().count("SIP/2.0 407 Proxy Authentication") >= 2
        assert s.admission.outcomes == []
        assert (await s.env.service.get("ann")).status is Status.OFFLINE
