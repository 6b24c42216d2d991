"""A transfer node in the real service: sipp callers take or refuse the REFER, through the SIP
front (REFER out to the caller, its answer and NOTIFY back to the media worker)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.service import Service, running_service
from tests.support.sipp import SippResult, SippRun, scenario

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parent / "flows"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("transfer"),
        settings={"flows_dir": str(FLOWS), "numbers": {"200": "transfer.yaml"}},
    ) as running:
        yield running


def _call(service: Service, work: Path, name: str) -> tuple[str, SippResult]:
    call_id = f"{name}-{uuid.uuid4().hex[:12]}"
    result = SippRun(
        scenario(name),
        work,
        local=("127.0.0.1", free_port()),
        remote=("127.0.0.1", service.sip_port),
        service="200",
        media_port=free_port(),
        extra_args=["-cid_str", call_id],
    ).run()
    assert result.ok, result.describe()
    return call_id, result


def _finished(record: dict[str, Any]) -> bool:
    return record["ended_at"] is not None


def _wait_for_log(service: Service, pattern: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, service.log()):
        assert time.monotonic() < deadline, f"no {pattern!r} in the service log"
        time.sleep(0.1)


def _refer(result: SippResult) -> str:
    """The REFER the caller received, as logged by sipp."""
    log = result.message_log()
    start = log.index("REFER sip:")
    return log[start : log.index("\n\n", start)]


def test_a_caller_that_takes_the_transfer_is_recorded_transferred(
    service: Service, tmp_path: Path
) -> None:
    call_id, result = _call(service, tmp_path, "uac_refer_accept")
    record = service.wait_call(call_id, _finished)
    assert record["outcome"] == "transferred"
    assert record["transfer_target"] == "1001"
    assert record["end_node"] == "desk"
    assert record["ended_by"] == "caller"  # its own BYE after the final NOTIFY
    assert [n["node"] for n in record["nodes"]] == ["notice", "desk"]

    refer = _refer(result)
    # the bare target went to the front the caller dialled, and the REFER came through it
    assert re.search(rf"^Refer-To: <?sip:1001@127\.0\.0\.1:{service.sip_port}>?$", refer, re.M)
    assert re.search(rf"^Via: SIP/2\.0/UDP 127\.0\.0\.1:{service.sip_port};", refer, re.M)
    # ...and the caller's NOTIFY (sipfrag 200) went back through it to the worker, which
    # logs the outcome with that status
    outcome = f'"ev":"transferred","call":"{call_id}","target":"sip:1001@127.0.0.1:'
    _wait_for_log(service, re.escape(outcome) + r'\d+","status":200')


def test_a_caller_that_refuses_the_refer_is_hung_up_as_a_failed_transfer(
    service: Service, tmp_path: Path
) -> None:
    call_id, result = _call(service, tmp_path, "uac_refer_reject")
    record = service.wait_call(call_id, _finished)
    assert record["outcome"] == "failed"
    assert record["end_reason"] == "transfer failed: 405 Method Not Allowed"
    assert record["transfer_target"] == "1001"
    assert record["ended_by"] == "system"
    assert record["end_node"] == "desk"
    assert "BYE sip:" in result.message_log()  # the service ended the call itself
