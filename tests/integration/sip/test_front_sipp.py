"""The SIP front in-process, real sipp callers in front of it, a sipp UAS as the media worker.

All traffic on 127.0.0.0/8. sipp runs in threads (``deferToThread``) so the reactor keeps
serving the front while a scenario runs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from callcenter.sip.admission import Admission, InboundCall, Reject, RouteTo
from callcenter.sip.front import FrontSettings, SipFront
from callcenter.sip.message import SipResponse, parse_message
from tests.support.ports import free_port
from tests.support.sipp import SippResult, SippRun, scenario


@dataclass
class StubAdmission:
    """Routes every call to the current worker; dialled 404/503 are rejected."""

    worker: tuple[str, int] = ("127.0.0.1", 1)
    calls: list[InboundCall] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def admit(self, call: InboundCall) -> Admission:
        self.calls.append(call)
        if call.did == "404":
            return Reject(404, "Not Found")
        if call.did == "503":
            return Reject(503, "No Capacity", {"Retry-After": "5"})
        if call.source[0] == "127.0.0.2":
            return Reject(486, "Busy Here")
        return RouteTo(self.worker)

    def dialog_ended(self, call_id: str) -> None:
        self.ended.append(call_id)


@dataclass
class Env:
    front: SipFront
    admission: StubAdmission
    port: int
    tmp: Path
    runs: list[SippRun] = field(default_factory=list)

    def sipp(self, name: str, *, uas: bool = False, **kwargs: Any) -> SippRun:
        local = kwargs.pop("local", ("127.0.0.1", free_port()))
        run = SippRun(
            scenario(name),
            self.tmp / "sipp",
            local=local,
            remote=None if uas else ("127.0.0.1", self.port),
            media_port=free_port(local[0]),
            **kwargs,
        )
        self.runs.append(run)
        return run

    def worker(self, name: str, **kwargs: Any) -> SippRun:
        """Start a sipp UAS and route calls to it."""
        run = self.sipp(name, uas=True, **kwargs).start()
        self.admission.worker = run.local
        return run


def call(run: SippRun) -> Deferred[SippResult]:
    return threads.deferToThread(run.run)


def finish(run: SippRun) -> Deferred[SippResult]:
    return threads.deferToThread(run.wait)


def pause(seconds: float) -> Deferred[None]:
    return deferLater(reactor, seconds, lambda: None)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    port = free_port()
    admission = StubAdmission()
    settings = FrontSettings(
        host="127.0.0.1", port=port, invite_rate=20, invite_burst=20, reject_burst=3
    )
    front = SipFront(reactor, settings, admission)
    front.start()
    environment = Env(front, admission, port, tmp_path)
    yield environment
    for run in environment.runs:
        run.kill()
    pytest_twisted.blockon(front.stop())


def ok(result: SippResult) -> None:
    assert result.ok, result.describe()


@pytest_twisted.inlineCallbacks
def test_call_through_the_front_caller_hangs_up(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_answer")
    yield pause(0.2)
    caller = yield call(env.sipp("uac_call", duration_ms=200))
    ok(caller)
    ok((yield finish(worker)))
    assert env.front.dialog_count() == 0
    assert [c.did for c in env.admission.calls] == ["100"]
    assert env.admission.ended == [env.admission.calls[0].call_id]
    worker_log = worker.messages.read_text()
    assert f"Record-Route: <sip:127.0.0.1:{env.port};lr>" in worker_log


@pytest_twisted.inlineCallbacks
def test_worker_hangs_up(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_hangup", duration_ms=300)
    yield pause(0.2)
    ok((yield call(env.sipp("uac_wait_bye"))))
    ok((yield finish(worker)))
    assert env.front.dialog_count() == 0
    assert len(env.admission.ended) == 1


@pytest_twisted.inlineCallbacks
def test_cancel_before_answer_gives_caller_487(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_ring_cancel")
    yield pause(0.2)
    caller = yield call(env.sipp("uac_cancel"))
    ok(caller)
    assert "SIP/2.0 487" in caller.message_log()
    ok((yield finish(worker)))
    assert env.front.dialog_count() == 0
    assert len(env.admission.ended) == 1


@pytest_twisted.inlineCallbacks
def test_slow_worker_sees_one_invite_transaction(env: Env) -> Generator[Any, Any, None]:
    # The worker waits 1.7 s before its first answer: the front retransmits the INVITE
    # (T1 = 0.5 s: at 0.5 and 1.5 s) with the same bytes, so sipp sees one transaction.
    worker = env.worker("uas_answer", duration_ms=1700)
    yield pause(0.2)
    caller = yield call(env.sipp("uac_call", duration_ms=100))
    ok(caller)
    result = yield finish(worker)
    ok(result)
    received_invites = result.message_log().count("INVITE sip:100@")
    assert received_invites >= 2, result.describe()
    assert result.successful_calls == 1 and result.failed_calls == 0


@pytest_twisted.inlineCallbacks
def test_rejecting_admission_reaches_the_caller(env: Env) -> Generator[Any, Any, None]:
    not_found = yield call(env.sipp("uac_rejected", service="404"))
    ok(not_found)
    assert "SIP/2.0 404 Not Found" in not_found.message_log()
    busy = yield call(env.sipp("uac_rejected", service="503"))
    ok(busy)
    assert "SIP/2.0 503 No Capacity" in busy.message_log()
    assert "Retry-After: 5" in busy.message_log()
    assert env.front.dialog_count() == 0
    assert env.front.stats()["rejects"] == {404: 1, 503: 1}


@pytest_twisted.inlineCallbacks
def test_tcp_caller(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_answer")
    yield pause(0.2)
    caller = yield call(env.sipp("uac_call", transport="t1", duration_ms=200))
    ok(caller)
    result = yield finish(worker)
    ok(result)
    assert f"<sip:127.0.0.1:{env.port};transport=tcp;lr>" in result.message_log()
    assert env.admission.calls[0].transport == "tcp"


@pytest_twisted.inlineCallbacks
def test_options_ping(env: Env) -> Generator[Any, Any, None]:
    result = yield call(env.sipp("uac_options"))
    ok(result)
    assert "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS" in result.message_log()


@pytest_twisted.inlineCallbacks
def test_info_in_dialog(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_info")
    yield pause(0.2)
    ok((yield call(env.sipp("uac_info"))))
    result = yield finish(worker)
    ok(result)
    assert "Signal=5" in result.message_log()


def _udp_exchange(port: int, data: bytes, source: str = "127.0.0.1") -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


BROKEN_INVITE = (
    b"INVITE sip:100@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-broken\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
    b"Call-ID: broken-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: lots\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@pytest_twisted.inlineCallbacks
def test_malformed_messages_get_400_and_the_front_still_serves(
    env: Env,
) -> Generator[Any, Any, None]:
    reply = yield threads.deferToThread(_udp_exchange, env.port, BROKEN_INVITE)
    assert reply is not None
    response = parse_message(reply)
    assert isinstance(response, SipResponse)
    assert response.status == 400
    assert "Max-Forwards" in response.reason
    silence = yield threads.deferToThread(_udp_exchange, env.port, b"\x00\xffnot sip at all")
    assert silence is None
    assert env.front.stats()["parse_errors"] == 2
    worker = env.worker("uas_answer")
    yield pause(0.2)
    ok((yield call(env.sipp("uac_call", duration_ms=100))))
    ok((yield finish(worker)))


@pytest_twisted.inlineCallbacks
def test_abort_dialog_sends_bye_to_the_caller(env: Env) -> Generator[Any, Any, None]:
    worker = env.worker("uas_answer_no_bye")
    yield pause(0.2)
    caller_run = env.sipp("uac_wait_bye", recv_timeout_ms=8000).start()
    ok((yield finish(worker)))  # answered and ACKed; the "worker" is gone now
    assert env.front.dialog_count() == 1
    env.front.abort_dialog(env.admission.calls[0].call_id, "media worker 1 exited")
    caller = yield finish(caller_run)
    ok(caller)
    assert "Reason: SIP;cause=503" in caller.message_log()
    assert env.front.dialog_count() == 0
    assert env.admission.ended == [env.admission.calls[0].call_id]


@pytest_twisted.inlineCallbacks
def test_flood_from_one_address_is_limited_others_still_connect(
    env: Env,
) -> Generator[Any, Any, None]:
    worker = env.worker("uas_answer")
    yield pause(0.2)
    flood = env.sipp(
        "uac_rejected",
        local=("127.0.0.2", free_port("127.0.0.2")),
        calls=150,
        rate=300,
        recv_timeout_ms=1500,
        timeout_s=15,
    ).start()
    yield pause(0.2)
    caller = yield call(env.sipp("uac_call", duration_ms=100))
    ok(caller)
    ok((yield finish(worker)))
    flooded = yield finish(flood)
    stats = env.front.stats()
    assert isinstance(stats["rate_limited"], int) and stats["rate_limited"] > 50
    assert flooded.failed_calls > 50, flooded.describe()
    assert flooded.successful_calls < 100
    assert env.admission.calls[-1].source[0] == "127.0.0.1" or any(
        c.source[0] == "127.0.0.1" for c in env.admission.calls
    )


_: Callable[..., object] = SippRun.stop  # the helper's graceful stop is part of its API
