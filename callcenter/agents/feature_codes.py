"""Feature codes: an agent changes state by dialling ``*40`` (login), ``*41`` (logout),
``*42`` (pause; ``*42<digits>`` pauses with reason ``code <digits>``, plain ``*42`` with
``break``) or ``*43`` (ready) from its softphone. The codes come from ``feature_codes``.

The call service's admission asks :meth:`FeatureCodeDesk.handle` when the dialled number is a
feature code. The INVITE must carry digest credentials of an agent (the same SIP username and
password the phone registers with): without them, or with wrong ones, the answer is
``407 Proxy Authentication Required`` with a challenge, which every softphone answers by
itself. Wrong passwords count against the source in the registrar's :class:`FailureGuard`
when it is shared, so guessing by INVITE is blocked like guessing by REGISTER.

One ``Proxy-Authenticate`` header is sent (the admission's ``Reject`` carries one value per
header name), with MD5 by default: every SIP phone and sipp answer MD5, while some phones fail
on a SHA-256 challenge. The agent acted upon is the authenticated one, whatever the From says.

Once authenticated the transition is applied through :class:`AgentsService` (so routing hears
of it) and the outcome carries the sentence to say, e.g. "Agent Ann logged in." or, for a
refused transition, "Already logged in."; the call service plays it and hangs up.

-*- test-case-name: tests.unit.agents.test_feature_codes -*-
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callcenter.agents.errors import AgentTransitionError
from callcenter.config import FeatureCodes
from callcenter.domain.routing import (
    Agent,
    Command,
    Login,
    Logout,
    Pause,
    Ready,
    Status,
    Transition,
)
from callcenter.sip.admission import InboundCall, Reject
from callcenter.sip.digest import MD5
from callcenter.sip.invite_auth import InviteAuthenticator
from callcenter.sip.registrar import FailureGuard
from callcenter.store.link import RedisUnavailableError

log = logging.getLogger(__name__)

#: Reason of a pause dialled without a reason code.
DEFAULT_PAUSE_REASON = "break"

_DONE = {Login: "logged in", Logout: "logged out", Pause: "paused", Ready: "ready"}
_REFUSED = {
    "agent-logged-in": "Already logged in.",
    "agent-offline": "You are not logged in.",
    "agent-already-available": "Already ready.",
    "agent-on-call": "Not while on a call.",
    "agent-ringing": "Not while a call is ringing.",
}


class AgentCommands(Protocol):
    """What the desk needs of :class:`~callcenter.agents.service.AgentsService`."""

    def agent_by_username(self, username: str) -> Agent | None: ...

    async def apply(self, agent_id: str, command: Command) -> Transition: ...


@dataclass(frozen=True)
class FeatureCodeOutcome:
    """What happened, for the call service to say (``text``) before hanging up.

    ``changed`` is False when the state machine refused (``error_id`` is its slug and
    ``status`` the unchanged state).
    """

    agent_id: str
    text: str
    status: Status
    changed: bool
    error_id: str | None = None


def parse_feature_code(did: str, codes: FeatureCodes) -> Command | None:
    """The command a dialled number asks for, None when it is no feature code.

    Exact codes first, so a pause code that is a prefix of another code cannot shadow it;
    ``%2A`` (an escaped ``*``) is accepted as some phones send it.
    """
    dialled = urllib.parse.unquote(did)
    exact: dict[str, Command] = {codes.login: Login(), codes.logout: Logout(), codes.ready: Ready()}
    if dialled in exact:
        return exact[dialled]
    if dialled == codes.pause:
        return Pause(DEFAULT_PAUSE_REASON)
    if dialled.startswith(codes.pause):
        digits = dialled[len(codes.pause) :]
        if digits.isdigit() and digits.isascii() and len(digits) <= 8:
            return Pause(f"code {digits}")
    return None


class FeatureCodeDesk:
    """Answers feature-code INVITEs: authenticate, apply, say what happened.

    ``passwords`` is the roster's SIP password lookup (``roster.password``); ``guard`` is
    best the registrar's (``registrar.guard``) so both count one source's failures together.
    """

    def __init__(
        self,
        codes: FeatureCodes,
        agents: AgentCommands,
        passwords: Callable[[str], str | None],
        realm: str,
        clock: Callable[[], float] = time.time,
        *,
        guard: FailureGuard | None = None,
        algorithm: str = MD5,
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
    ) -> None:
        self._codes = codes
        self._agents = agents
        self.auth = InviteAuthenticator(
            realm,
            passwords,
            clock,
            guard=guard,
            algorithm=algorithm,
            nonce_lifetime=nonce_lifetime,
            secret=secret,
        )

    def is_feature_code(self, did: str) -> bool:
        return parse_feature_code(did, self._codes) is not None

    async def handle(self, call: InboundCall) -> FeatureCodeOutcome | Reject:
        """Authenticate the INVITE and apply its code; a ``Reject`` when it cannot be."""
        command = parse_feature_code(call.did, self._codes)
        if command is None:
            return Reject(404, "Not Found")
        username = self.auth.authenticate(call)
        if isinstance(username, Reject):
            return username
        agent = self._agents.agent_by_username(username)
        if agent is None:
            return Reject(403, "Forbidden (not an agent)")
        try:
            done = await self._agents.apply(agent.id, command)
        except AgentTransitionError as refused:
            text = _REFUSED.get(refused.error_id, "That is not possible now.")
            log.info("feature code %s by agent %s refused: %s", call.did, agent.id, refused)
            return FeatureCodeOutcome(
                agent.id, text, Status(refused.agent_status), False, refused.error_id
            )
        except RedisUnavailableError:
            return Reject(503, "State Store Unavailable", {"Retry-After": "10"})
        status = done.record.state.status
        text = f"Agent {agent.name} {_DONE[type(command)]}."
        return FeatureCodeOutcome(agent.id, text, status, True)
