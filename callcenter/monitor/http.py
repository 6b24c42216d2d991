"""``POST /api/calls/<call id>/monitor``: ring a supervisor's phone to monitor that call.

Body ``{"supervisor": "<supervisor id>", "mode": "listen" | "whisper" | "barge"}`` (mode
defaults to listen); supervisor role. ``202`` with ``{monitor, call_id, supervisor, agent, mode,
state: "ringing"}``; ``400 invalid-monitor-mode`` / ``bad-request``, ``404
supervisor-not-found``, ``409 call-not-connected`` (not talking to an agent on this
controller), ``409 supervisor-not-registered``, ``503 no-media-capacity``.

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

from twisted.web.server import Request

from callcenter.monitor.ringer import MonitorRinger
from callcenter.web.auth import TokenAuth
from callcenter.web.json_api import JsonEndpoint, Reply, json_body


class MonitorEndpoint(JsonEndpoint):
    """Served by ``CallsResource.add_action(b"monitor", ...)`` for one call id."""

    def __init__(self, auth: TokenAuth, ringer: MonitorRinger, call_id: str) -> None:
        async def post(request: Request) -> Reply:
            ringing = await ringer.ring(call_id, json_body(request, empty={}))
            return 202, ringing.view()

        super().__init__(auth, {b"POST": ("supervisor", post)})
