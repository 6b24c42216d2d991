"""``POST /api/calls/<call id>/monitor``: ring a supervisor's phone to monitor that call.

Body ``{"supervisor": "<supervisor id>", "mode": "listen" | "whisper" | "barge"}`` (mode
defaults to listen); supervisor role. ``202`` with ``{monitor, call_id, supervisor, agent, mode,
state: "ringing"}``; ``400 invalid-monitor-mode`` / ``bad-request``, ``404
supervisor-not-found``, ``409 call-not-connected`` (not talking to an agent on this
controller), ``409 supervisor-not-registered``, ``503 no-media-capacity``.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request

from callcenter.monitor.ringer import MonitorRinger
from callcenter.web.auth import TokenAuth
from callcenter.web.errors import BadRequestError
from callcenter.web.json_api import JsonEndpoint, Reply

MAX_BODY = 4096


class MonitorEndpoint(JsonEndpoint):
    """Served by ``CallsResource.add_action(b"monitor", ...)`` for one call id."""

    def __init__(self, auth: TokenAuth, ringer: MonitorRinger, call_id: str) -> None:
        async def post(request: Request) -> Reply:
            ringing = await ringer.ring(call_id, _json_object(request))
            return 202, ringing.view()

        super().__init__(auth, {b"POST": ("supervisor", post)})


def _json_object(request: Request) -> dict[str, Any]:
    content = request.content
    raw = content.read(MAX_BODY + 1) if content is not None else b""
    if len(raw) > MAX_BODY:
        raise BadRequestError(f"the body must be at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body
