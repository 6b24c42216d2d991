"""Monitoring started from the API: the service rings the supervisor's registered phone.

``POST /api/calls/<call id>/monitor {"supervisor": "sue", "mode": "whisper"}``: the call must
be a live conversation with an agent on this controller, the supervisor configured and its
phone registered. A media worker with room places a call of its own (a ``dial`` without a
peer) to the supervisor's SIP username through the front, which finds the phone; when the
supervisor answers, the session runs exactly as if they had dialled ``*51<agent id>``
(:class:`~callcenter.monitor.session.MonitorSession`, DTMF 4/5/6 included). Not answered within
the ring time: nothing happened (no ``monitor.*`` events).

-*- test-case-name: tests.e2e.test_monitor -*-
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from callcenter.aio import wait_for
from callcenter.calls.errors import CallNotFoundError
from callcenter.domain.monitor import Mode, Supervisor
from callcenter.domain.routing import Agent
from callcenter.media import protocol as media
from callcenter.monitor.desk import Conversation, MonitorGranted
from callcenter.monitor.session import Events, MonitorSession
from callcenter.monitor.sessions import MonitorSessions
from callcenter.web.errors import ApiError, BadRequestError, NotFoundError

log = logging.getLogger(__name__)

RING_SECONDS = 30.0


class SupervisorNotFoundError(NotFoundError):
    error_id = "supervisor-not-found"


class InvalidModeError(BadRequestError):
    error_id = "invalid-monitor-mode"


class NotConnectedError(ApiError):
    """The call exists but is not a conversation with an agent (in the IVR, queued, ended)."""

    status = 409
    error_id = "call-not-connected"


class NotRegisteredError(ApiError):
    status = 409
    error_id = "supervisor-not-registered"


class NoCapacityError(ApiError):
    status = 503
    error_id = "no-media-capacity"


class Pool(Protocol):
    def reserve(self, call_id: str, slots: int | None = None) -> Deferred[tuple[str, int]]: ...

    def release(self, call_id: str) -> None: ...

    def send(self, call_id: str, command: media.Command) -> None: ...

    def tap_address(self, call_id: str) -> tuple[str, int] | None: ...


class CallConversations(Protocol):
    def conversation_of_call(self, call_id: str) -> Conversation | None: ...


class Registered(Protocol):
    async def __call__(self, sip_username: str) -> bool: ...


@dataclass(frozen=True)
class Ringing:
    monitor: str  # the supervisor's call id (``supervisor_call`` in the events)
    granted: MonitorGranted

    def view(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "call_id": self.granted.conversation.call_id,
            "supervisor": self.granted.supervisor.id,
            "agent": self.granted.agent.id,
            "mode": str(self.granted.mode),
            "state": "ringing",
        }


class MonitorRinger:
    def __init__(
        self,
        supervisors: Mapping[str, Supervisor],
        agents: Mapping[str, Agent],
        conversations: CallConversations,
        registered: Registered,
        sessions: MonitorSessions,
        pool: Pool,
        events: Events,
        now: Callable[[], float],
        front_host: str,
    ) -> None:
        self._supervisors = supervisors
        self._agents = agents
        self._conversations = conversations
        self._registered = registered
        self._sessions = sessions
        self._pool = pool
        self._events = events
        self._now = now
        self._front_host = front_host

    async def ring(self, call_id: str, body: Mapping[str, Any]) -> Ringing:
        supervisor_id, mode_name = body.get("supervisor"), body.get("mode", "listen")
        if not isinstance(supervisor_id, str) or not supervisor_id:
            raise BadRequestError('give the supervisor\'s id: {"supervisor": "..."}')
        try:
            mode = Mode(mode_name)
        except ValueError:
            raise InvalidModeError(
                f"mode must be one of {', '.join(m.value for m in Mode)}"
            ) from None
        supervisor = self._supervisors.get(supervisor_id)
        if supervisor is None:
            raise SupervisorNotFoundError(f"no supervisor with id {supervisor_id!r}")
        conversation = self._conversations.conversation_of_call(call_id)
        if conversation is None:
            raise NotConnectedError(f"call {call_id!r} is not talking to an agent here now")
        agent = self._agents.get(conversation.agent_id)
        if agent is None:  # pragma: no cover - routing only offers configured agents
            raise CallNotFoundError(call_id, "no agent known for it")
        if not await self._registered(supervisor.sip_username):
            raise NotRegisteredError(f"supervisor {supervisor.id!r} has no registered phone")
        monitor = f"monitor-{uuid.uuid4().hex}"
        granted = MonitorGranted(supervisor, agent, mode, conversation)
        try:
            await wait_for(self._pool.reserve(monitor, slots=1))
        except Exception as exc:
            raise NoCapacityError(f"no media worker has room: {exc}") from None
        session = MonitorSession(monitor, granted, self._pool, self._events, self._now)
        self._sessions.add(session)
        dial = media.Dial(
            call=monitor,
            peer="",
            uri=f"sip:{supervisor.sip_username}@{self._front_host}",
            caller_id="monitor",
            display=f"{mode.value.title()}: {agent.name}",
            timeout=RING_SECONDS,
            headers=(("X-Monitor", f"{mode.value} {agent.id} {conversation.call_id}"),),
        )
        try:
            self._pool.send(monitor, dial)
        except LookupError:
            self._sessions.sessions.pop(monitor, None)
            self._pool.release(monitor)
            raise NoCapacityError("the media worker went away") from None
        log.info("ringing supervisor %s to %s agent %s", supervisor.id, mode, agent.id)
        return Ringing(monitor, granted)
