"""Monitor codes: a supervisor dials ``*50<agent id>`` (listen), ``*51<agent id>`` (whisper) or
``*52<agent id>`` (barge) from a softphone (codes under ``feature_codes``).

The INVITE must authenticate with a supervisor's SIP username and password (``407`` challenge,
as for agents' feature codes); an agent's or unknown credentials get ``403``. An authenticated
supervisor asking for an unknown agent, or for an agent who is not talking to a caller right
now, hears why and is hung up (:class:`MonitorRefused`); an agent talking through another
controller gets the phone redirected there (``302``, :mod:`callcenter.monitor.elsewhere`).
Otherwise the desk names the conversation to tap (:class:`MonitorGranted`) and the call
service admits the supervisor's call to a media worker (any worker: the tap crosses workers).

-*- test-case-name: tests.unit.monitor.test_desk -*-
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from callcenter.domain.monitor import Mode, Supervisor, parse_monitor_code
from callcenter.domain.routing import Agent
from callcenter.sip.admission import InboundCall, Reject
from callcenter.sip.invite_auth import InviteAuthenticator
from callcenter.store.link import RedisUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conversation:
    """A live caller-agent conversation: the caller's call id and the agent's leg id."""

    call_id: str
    leg: str
    agent_id: str


class Conversations(Protocol):
    def conversation_of(self, agent_id: str) -> Conversation | None: ...


class Offer(Protocol):
    """What routing's ``Offer`` carries that the desk reads."""

    @property
    def leg(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def answered(self) -> bool: ...


class AnsweredOffers:
    """Conversations from routing's live offers (``RoutingService.offers``): the answered ones
    are bridged caller-agent pairs held by this controller."""

    def __init__(self, offers: Mapping[str, Offer]) -> None:
        self._offers = offers

    def conversation_of(self, agent_id: str) -> Conversation | None:
        answered: Iterable[Offer] = (o for o in self._offers.values() if o.answered)
        for offer in answered:
            if offer.agent_id == agent_id:
                return Conversation(offer.call_id, offer.leg, offer.agent_id)
        return None

    def conversation_of_call(self, call_id: str) -> Conversation | None:
        for offer in self._offers.values():
            if offer.answered and offer.call_id == call_id:
                return Conversation(offer.call_id, offer.leg, offer.agent_id)
        return None


class Elsewhere(Protocol):
    """Which other controller's SIP front (``host:port``) holds an agent's conversation."""

    async def front_for(self, agent_id: str) -> str | None: ...


class Roster(Protocol):
    @property
    def agents(self) -> Mapping[str, Agent]: ...

    def supervisor_by_username(self, username: str) -> Supervisor | None: ...


@dataclass(frozen=True)
class MonitorGranted:
    supervisor: Supervisor
    agent: Agent
    mode: Mode
    conversation: Conversation


@dataclass(frozen=True)
class MonitorRefused:
    """Say ``text`` to the supervisor and hang up; ``reason`` is a slug for the logs."""

    text: str
    reason: str


class MonitorDesk:
    def __init__(
        self,
        codes: Mapping[Mode, str],
        roster: Roster,
        conversations: Conversations,
        auth: InviteAuthenticator,
        elsewhere: Elsewhere | None = None,
    ) -> None:
        self._codes = dict(codes)
        self._roster = roster
        self.conversations = conversations
        self._auth = auth
        self._elsewhere = elsewhere

    def is_monitor_code(self, did: str) -> bool:
        return parse_monitor_code(did, self._codes) is not None

    async def handle(self, call: InboundCall) -> MonitorGranted | MonitorRefused | Reject:
        request = parse_monitor_code(call.did, self._codes)
        if request is None:
            return Reject(404, "Not Found")
        username = self._auth.authenticate(call)
        if isinstance(username, Reject):
            return username
        supervisor = self._roster.supervisor_by_username(username)
        if supervisor is None:
            log.info("monitor code %s from %r refused: not a supervisor", call.did, username)
            return Reject(403, "Forbidden (not a supervisor)")
        agent = self._roster.agents.get(request.agent_id)
        if agent is None:
            return MonitorRefused(f"There is no agent {request.agent_id}.", "unknown-agent")
        conversation = self.conversations.conversation_of(agent.id)
        if conversation is not None:
            return MonitorGranted(supervisor, agent, request.mode, conversation)
        front = await self._front_elsewhere(agent.id)
        if front is not None:  # another controller holds the call: the phone asks it instead
            log.info("monitor code %s: agent %s talks via %s, redirecting", call.did, agent.id,
                     front)  # fmt: skip
            return Reject(302, "Moved Temporarily", {"Contact": f"<sip:{call.did}@{front}>"})
        return MonitorRefused(f"Agent {agent.name} is not on a call.", "agent-not-on-call")

    async def _front_elsewhere(self, agent_id: str) -> str | None:
        if self._elsewhere is None:
            return None
        try:
            return await self._elsewhere.front_for(agent_id)
        except RedisUnavailableError:
            return None  # then "not on a call": nothing better can be said


def mode_codes(listen: str, whisper: str, barge: str) -> dict[Mode, str]:
    """The ``feature_codes`` settings as the desk wants them."""
    return {Mode.LISTEN: listen, Mode.WHISPER: whisper, Mode.BARGE: barge}
