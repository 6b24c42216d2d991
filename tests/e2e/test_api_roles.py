"""Who may call what: every endpoint of the real service's API by no token, an unknown token,
a plain agent token, an agent's own bound token, a supervisor and an admin.

The rules (README, "Supervisor controls"): no token or an unknown one is ``401`` everywhere
under ``/api``; a plain ``agent`` token is ``403`` everywhere; a token bound to an agent may
act on that agent only; supervisors may do everything but the admin's operations; admins all.
"Allowed" here means the role check let the request through: the answer is neither ``401``
nor ``403`` (it may still be ``404`` for the made-up ids used, or ``409``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    SUPERVISOR_TOKEN,
    Service,
    running_service,
)

pytestmark = pytest.mark.e2e

ANN_TOKEN = "e2e-ann-bound-token-0123456789"
UNKNOWN = "e2e-unknown-token-0123456789"

SUPERVISOR, OWN, CALLS_AGENT, ADMIN = "supervisor", "own", "call's agent", "admin"

#: (method, path, body, who besides supervisors and admins may call it)
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/calls", None, SUPERVISOR),
    ("GET", "/api/calls/nope", None, SUPERVISOR),
    ("POST", "/api/calls/nope/queue", {"queue": "sales"}, SUPERVISOR),
    ("POST", "/api/calls/nope/priority", {"priority": 1}, SUPERVISOR),
    ("POST", "/api/calls/nope/monitor", {"supervisor": "sue"}, SUPERVISOR),
    ("POST", "/api/calls/nope/recording/pause", {}, CALLS_AGENT),
    ("POST", "/api/calls/nope/recording/resume", {}, CALLS_AGENT),
    ("POST", "/api/calls/nope/disposition", {"disposition": "done"}, CALLS_AGENT),
    ("GET", "/api/recordings", None, SUPERVISOR),
    ("GET", "/api/recordings/nope", None, SUPERVISOR),
    ("GET", "/api/recordings/nope/audio", None, SUPERVISOR),
    ("GET", "/api/tickets", None, SUPERVISOR),
    ("GET", "/api/tickets/1", None, CALLS_AGENT),
    ("PATCH", "/api/tickets/1", {"status": "open"}, SUPERVISOR),
    ("POST", "/api/tickets/1/comments", {"body": "called back"}, CALLS_AGENT),
    ("POST", "/api/tickets/1/close", {}, SUPERVISOR),
    ("GET", "/api/tickets/outbox", None, SUPERVISOR),
    ("POST", "/api/tickets/outbox/1/retry", {}, ADMIN),
    ("GET", "/api/agents", None, SUPERVISOR),
    ("GET", "/api/agents/ann", None, OWN),
    ("POST", "/api/agents/ann/login", {}, OWN),
    ("POST", "/api/agents/ann/pause", {"reason": "lunch"}, OWN),
    ("POST", "/api/agents/ann/ready", {}, OWN),
    ("POST", "/api/agents/ann/logout", {}, OWN),
    ("PATCH", "/api/agents/ann", {"skills": {"billing": 2}}, SUPERVISOR),
    ("GET", "/api/agents/ann/edits", None, SUPERVISOR),
    ("DELETE", "/api/agents/ann/edits", None, SUPERVISOR),
    ("GET", "/api/routing/explain?call=nope", None, SUPERVISOR),
    ("GET", "/api/routing/explain?agent=ann", None, SUPERVISOR),
    ("GET", "/api/queues", None, SUPERVISOR),
    ("GET", "/api/kpis", None, SUPERVISOR),
    ("POST", "/api/wallboard/session", {}, SUPERVISOR),
    ("GET", "/api/wallboard", None, SUPERVISOR),
    ("POST", "/api/flows/reload", {}, ADMIN),
    ("GET", "/api/audit", None, ADMIN),
    ("GET", "/metrics", None, SUPERVISOR),  # metrics.public: false (the default)
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp_path: Path = tmp_path_factory.mktemp("roles")
    settings = {
        "agents": [
            {"id": "ann", "password": "ann-password-1", "skills": {}, "queues": ["billing"]},
            {"id": "bob", "password": "bob-password-1", "skills": {}, "queues": ["billing"]},
        ],
        "http": {
            "tokens": {
                ADMIN_TOKEN: "admin",
                SUPERVISOR_TOKEN: "supervisor",
                AGENT_TOKEN: "agent",
                ANN_TOKEN: "agent:ann",
            }
        },
    }
    with running_service(tmp_path, settings=settings) as running:
        yield running


def _raw_status(service: Service, path: str, token: str | None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{service.http_port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _allowed(status: int) -> bool:
    return status not in (401, 403)


@pytest.mark.parametrize(
    ("method", "path", "body", "who"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_each_endpoint_lets_in_exactly_the_right_tokens(
    service: Service, method: str, path: str, body: Any, who: str
) -> None:
    def status(token: str | None) -> int:
        if not path.startswith("/api"):  # /metrics answers text, not JSON
            return _raw_status(service, path, token)
        code, reply = service.api(path, token, method, body)
        if code in (401, 403):  # the refusal is the documented JSON error
            assert reply["status"] == code and reply["error_id"] and reply["message"], reply
        return code

    assert status(None) == 401
    assert status(UNKNOWN) == 401
    plain = status(AGENT_TOKEN)  # a plain agent token is bound to no one
    if who == CALLS_AGENT:  # these look the id up before asking whose it is
        assert plain in (403, 404), plain
    else:
        assert plain == 403
    ann = status(ANN_TOKEN)
    if who == OWN:
        assert _allowed(ann), ann
        other = path.replace("/ann", "/bob")
        assert service.api(other, ANN_TOKEN, method, body)[0] == 403
    elif who in (SUPERVISOR, ADMIN):
        assert ann == 403
    supervisor = status(SUPERVISOR_TOKEN)
    assert (supervisor == 403) if who == ADMIN else _allowed(supervisor), supervisor
    assert _allowed(status(ADMIN_TOKEN))


def test_public_pages_need_no_token(service: Service) -> None:
    status, _ = service.api("/healthz", None)
    assert status == 200
