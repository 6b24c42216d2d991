"""Who may use each supervisor endpoint: every endpoint by no token, agent, own agent, supervisor,
admin. ``401`` without a (known) token, ``403`` with a role too low, the answer otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.agents.kit import in_task
from tests.integration.supervisor.kit import (
    ADMIN,
    ANN_TOKEN,
    PLAIN,
    SUPERVISOR,
    Api,
    supervisor_api,
)
from tests.support.redis_server import RedisServer

NONE, BAD = None, "not-a-known-token-0123456789"
WHO = {"none": NONE, "unknown": BAD, "agent": PLAIN, "own agent": ANN_TOKEN}
ALLOWED = {"supervisor": SUPERVISOR, "admin": ADMIN}

# (method, path, body): each needs at least the supervisor role, even for the agent's own token.
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("POST", "/api/calls/{call}/queue", {"queue": "sales"}),
    ("POST", "/api/calls/{call}/priority", {"priority": 4}),
    ("PATCH", "/api/agents/ann", {"skills": {"tech": 2}}),
    ("GET", "/api/agents/ann/edits", None),
    ("DELETE", "/api/agents/ann/edits", None),
]


async def _try(a: Api, method: str, path: str, body: Any, token: str | None, n: int) -> int:
    call = f"call-{n}"
    if "{call}" in path:
        await a.queue_call(call)
    status, reply = await a.call(path.format(call=call), token, method, body)
    if status >= 400:
        assert reply["status"] == status and reply["error_id"], reply
    return status


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@in_task
async def test_each_endpoint_needs_the_supervisor_role(
    redis_server: RedisServer, method: str, path: str, body: Any
) -> None:
    async with supervisor_api(redis_server) as a:
        seen: dict[str, int] = {}
        for n, (who, token) in enumerate({**WHO, **ALLOWED}.items()):
            seen[who] = await _try(a, method, path, body, token, n)
        assert seen == {
            "none": 401,
            "unknown": 401,
            "agent": 403,
            "own agent": 403,
            "supervisor": 200,
            "admin": 200,
        }
        assert len(await a.audit()) == (0 if method == "GET" else 2)  # only allowed changes


@in_task
async def test_state_changes_are_for_supervisors_or_the_agent_itself(
    redis_server: RedisServer,
) -> None:
    async with supervisor_api(redis_server) as a:
        seen = {}
        for who, token in {**WHO, **ALLOWED}.items():
            seen[who] = (await a.call("/api/agents/ann/pause", token, "POST", {"reason": "x"}))[0]
        assert seen == {
            "none": 401,
            "unknown": 401,
            "agent": 403,
            "own agent": 409,  # allowed, but ann is offline: the state machine refuses
            "supervisor": 409,
            "admin": 409,
        }
