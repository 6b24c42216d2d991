"""Phones register through a real SipFront with the registrar and a real Redis.

sipp (MD5: sipp 3.6 has no SHA-256) and a small Python client (SHA-256, un-REGISTER) send
REGISTERs over loopback; the bindings are read back from Redis. A password-guessing flood
from 127.0.0.2 gets that source blocked while 127.0.0.1 still registers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred

from callcenter.aio import as_deferred
from callcenter.sip.admission import Admission, InboundCall, Reject
from callcenter.sip.digest import MD5, SHA256
from callcenter.sip.front import FrontSettings, SipFront
from callcenter.sip.message import SipRequest, SipResponse, parse_message
from callcenter.sip.registrar import Registrar, RegistrarSettings
from callcenter.store.link import RedisLink
from callcenter.store.registrations import Binding, RedisBindingStore
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.sip_register import authorization, challenge_for, register
from tests.support.sipp import SippResult, SippRun, scenario

PASSWORDS = {"agent1": "secret", "agent2": "other-secret"}


class Passwords:
    def lookup(self, username: str) -> str | None:
        return PASSWORDS.get(username)


class NoCalls:
    def admit(self, call: InboundCall) -> Admission:
        return Reject(403, "No Calls Here")

    def dialog_ended(self, call_id: str) -> None:
        pass


@dataclass
class RegEnv:
    front: SipFront
    registrar: Registrar
    store: RedisBindingStore
    port: int
    tmp: Path
    runs: list[SippRun] = field(default_factory=list)

    def sipp(self, name: str, password: str, local_ip: str = "127.0.0.1", **kw: Any) -> SippRun:
        run = SippRun(
            scenario(name),
            self.tmp / "sipp",
            local=(local_ip, free_port(local_ip)),
            remote=("127.0.0.1", self.port),
            service=kw.pop("user", "agent1"),
            extra_args=["-au", kw.pop("username", "agent1"), "-ap", password],
            timeout_s=kw.pop("timeout_s", 10.0),
            **kw,
        )
        self.runs.append(run)
        return run

    def bindings(self, aor: str = "agent1") -> Deferred[list[Binding]]:
        return as_deferred(self.store.current(aor, time.time()))


@pytest.fixture
def reg_env(tmp_path: Path, redis_server: RedisServer) -> Iterator[RegEnv]:
    link = RedisLink(redis_server.url)
    pytest_twisted.blockon(as_deferred(link.connect()))
    port = free_port()
    front = SipFront(reactor, FrontSettings(host="127.0.0.1", port=port), NoCalls())
    store = RedisBindingStore(link)
    registrar = Registrar(
        RegistrarSettings(max_failures=5, failure_window=60, block_seconds=30),
        Passwords(),
        store,
    )
    front.add_method_service("REGISTER", registrar)
    front.start()
    env = RegEnv(front, registrar, store, port, tmp_path)
    yield env
    for run in env.runs:
        run.kill()
    pytest_twisted.blockon(front.stop())
    pytest_twisted.blockon(as_deferred(link.close()))


def run_sipp(run: SippRun) -> Deferred[SippResult]:
    return threads.deferToThread(run.run)


def ok(result: SippResult) -> None:
    assert result.ok, result.describe()


class UdpPhone:
    """A blocking UDP REGISTER client (use from a thread while the reactor runs)."""

    def __init__(self, front_port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(3)
        self.front = ("127.0.0.1", front_port)
        self.address: tuple[str, int] = self.sock.getsockname()

    def exchange(self, request: SipRequest) -> SipResponse:
        self.sock.sendto(request.to_bytes(), self.front)
        data, _ = self.sock.recvfrom(65535)
        response = parse_message(data)
        assert isinstance(response, SipResponse)
        return response

    def register(
        self,
        password: str,
        algorithm: str = SHA256,
        call_id: str = "py-reg",
        cseq: int = 1,
        **kw: Any,
    ) -> SipResponse:
        uri = f"sip:127.0.0.1:{self.front[1]}"
        via = f"{self.address[0]}:{self.address[1]}"
        first = self.exchange(register(uri=uri, via_host=via, call_id=call_id, cseq=cseq, **kw))
        if first.status != 401:
            return first
        value = authorization(challenge_for(first, algorithm), password=password, uri=uri)
        return self.exchange(
            register(
                uri=uri,
                via_host=via,
                call_id=call_id,
                cseq=cseq + 1,
                authorization=value,
                **kw,
            )
        )

    def close(self) -> None:
        self.sock.close()


@pytest_twisted.inlineCallbacks
def test_sipp_registers_over_udp(reg_env: RegEnv) -> Generator[Any, Any, None]:
    run = reg_env.sipp("register_auth", "secret")
    ok((yield run_sipp(run)))
    log = run.messages.read_text()
    assert "algorithm=MD5" in log and "algorithm=SHA-256" not in log  # UA sipp: MD5 only
    assert f"Contact: <sip:agent1@127.0.0.1:{run.local[1]};transport=UDP>;expires=120" in log
    [binding] = yield reg_env.bindings()
    assert binding.transport == "udp"
    assert binding.source == run.local  # INVITEs to the agent go where the REGISTER came from
    assert binding.user_agent == "sipp"


@pytest_twisted.inlineCallbacks
def test_sipp_registers_over_tcp(reg_env: RegEnv) -> Generator[Any, Any, None]:
    run = reg_env.sipp("register_auth", "secret", transport="t1")
    ok((yield run_sipp(run)))
    [binding] = yield reg_env.bindings()
    assert binding.transport == "tcp"
    assert binding.source[0] == "127.0.0.1"


@pytest_twisted.inlineCallbacks
def test_sipp_wrong_password_gets_401_and_no_binding(
    reg_env: RegEnv,
) -> Generator[Any, Any, None]:
    run = reg_env.sipp("register_wrong", "not-the-password")
    ok((yield run_sipp(run)))
    assert run.messages.read_text().count("SIP/2.0 401 Unauthorized") == 2
    assert (yield reg_env.bindings()) == []
    assert reg_env.registrar.stats.auth_failures == 1


@pytest_twisted.inlineCallbacks
def test_sha256_register_nat_and_unregister(reg_env: RegEnv) -> Generator[Any, Any, None]:
    phone = UdpPhone(reg_env.port)
    try:
        # The phone believes it is 10.0.0.5 (behind NAT); the binding keeps the real source.
        contact = "<sip:agent1@10.0.0.5:5062>"
        response = yield threads.deferToThread(
            phone.register, "secret", SHA256, contacts=[contact], expires=300
        )
        assert response.status == 200, response
        assert response.headers.get_all("Contact") == [f"{contact};expires=300"]
        via = response.top_via
        assert via.received == "127.0.0.1" and via.rport == phone.address[1]
        [binding] = yield reg_env.bindings()
        assert binding.contact == "sip:agent1@10.0.0.5:5062"
        assert binding.source == phone.address
        # MD5 works as well, and a second contact is added.
        response = yield threads.deferToThread(
            phone.register, "secret", MD5, call_id="py-reg-2", contacts=["<sip:agent1@10.0.0.6>"]
        )
        assert len(response.headers.get_all("Contact")) == 2
        # Un-REGISTER everything.
        response = yield threads.deferToThread(
            phone.register, "secret", SHA256, cseq=10, contacts=["*"], expires=0
        )
        assert response.status == 200 and response.headers.get_all("Contact") == []
        assert (yield reg_env.bindings()) == []
    finally:
        phone.close()


@pytest_twisted.inlineCallbacks
def test_register_flood_blocks_only_the_guessing_source(
    reg_env: RegEnv,
) -> Generator[Any, Any, None]:
    flood = reg_env.sipp(
        "register_flood", "guess", local_ip="127.0.0.2", calls=30, rate=100, max_concurrent=5
    )
    result = yield run_sipp(flood)
    ok(result)
    log = result.message_log()
    assert log.count("SIP/2.0 403 Forbidden (too many failed authentications)") >= 20, (
        result.describe()
    )
    stats = reg_env.registrar.stats
    assert stats.auth_failures == 5  # after the 5th wrong answer no password is checked
    assert stats.blocked >= 20
    # The blocked source cannot register even with the right password...
    blocked = UdpPhone(reg_env.port, host="127.0.0.2")
    try:
        response = yield threads.deferToThread(blocked.register, "secret")
        assert response.status == 403
    finally:
        blocked.close()
    # ...while everyone else can.
    run = reg_env.sipp("register_auth", "secret")
    ok((yield run_sipp(run)))
    [binding] = yield reg_env.bindings()
    assert binding.source == run.local
