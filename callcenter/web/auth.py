"""Bearer-token authentication with roles (agent < supervisor < admin).

Tokens come from the config (``http.tokens``): token → ``agent``, ``supervisor``, ``admin``,
``agent:<agent id>``, ``supervisor:<name>`` or ``admin:<name>``. ``agent:<agent id>`` is an
agent token *bound* to one agent: it has the agent role and may act only on that agent (its own
state, its own record), so an agent's desktop can hold a token without being able to log its
colleagues out. A plain ``agent`` token is bound to no one. ``supervisor:<name>`` and
``admin:<name>`` name the person holding the token: the name is what the audit trail
(``supervisor.action`` events) records as who acted. An unnamed token is recorded as its role
and a short fingerprint of the token (``supervisor-1a2b3c4d``), never the token itself.

When no tokens are configured, one admin token is generated on first start and kept in
``<data_dir>/api-token`` (mode 600), so a fresh service is never open to anyone on the
network; its value is never logged.

-*- test-case-name: tests.unit.web.test_auth -*-
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from callcenter.web.errors import ForbiddenError, UnauthorizedError

ROLES = ("agent", "supervisor", "admin")
BOUND_PREFIX = "agent:"
#: A token holder's name (``supervisor:<name>``): short, printable, no spaces at the ends.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,62}[A-Za-z0-9._]|[A-Za-z0-9]")


def rank(role: str) -> int:
    return ROLES.index(role)


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for: its role and, for a bound agent token, the agent's id."""

    role: str
    agent_id: str | None = None
    #: Who holds the token, as the audit trail shows it (not part of equality).
    name: str = field(default="", compare=False)

    def may_act_on(self, agent_id: str) -> bool:
        """Supervisors and admins act on any agent; an agent token only on its own agent."""
        if rank(self.role) >= rank("supervisor"):
            return True
        return self.agent_id is not None and self.agent_id == agent_id


def parse_role(value: str) -> Principal:
    """A ``http.tokens`` value as a :class:`Principal`; ``ValueError`` says what is wrong."""
    if value in ROLES:
        return Principal(value)
    if value.startswith(BOUND_PREFIX):
        agent_id = value[len(BOUND_PREFIX) :].strip()
        if agent_id:
            return Principal("agent", agent_id, name=f"agent:{agent_id}")
        raise ValueError(f"role {value!r} names no agent (use agent:<agent id>)")
    role, colon, name = value.partition(":")
    if colon and role in ("supervisor", "admin"):
        if NAME.fullmatch(name):
            return Principal(role, name=name)
        raise ValueError(
            f"role {value!r}: a token holder's name is 1-64 letters, digits, spaces or ._@+-"
        )
    raise ValueError(
        f"role {value!r} is not agent, agent:<agent id>, supervisor[:<name>] or admin[:<name>]"
    )


def _named(token: str, principal: Principal) -> Principal:
    """The principal with a name for the audit trail (a fingerprint when the config gave none)."""
    if principal.name:
        return principal
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:8]
    return replace(principal, name=f"{principal.role}-{fingerprint}")


class TokenAuth:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = {token: _named(token, parse_role(value)) for token, value in tokens.items()}

    def principal_of(self, authorization: str | None) -> Principal:
        """Who an ``Authorization: Bearer …`` header authenticates; 401 when no one."""
        if not authorization or not authorization.startswith("Bearer "):
            raise UnauthorizedError("missing bearer token (Authorization: Bearer <token>)")
        presented = authorization[len("Bearer ") :].strip()
        for token, principal in self._tokens.items():
            if hmac.compare_digest(token.encode(), presented.encode()):
                return principal
        raise UnauthorizedError("unknown or revoked token")

    def role_of(self, authorization: str | None) -> str:
        """The role granted by an ``Authorization: Bearer …`` header; 401 when none is."""
        return self.principal_of(authorization).role

    def require(self, authorization: str | None, role: str) -> str:
        return self.require_principal(authorization, role).role

    def require_principal(self, authorization: str | None, role: str) -> Principal:
        """The token's principal if its role is at least ``role``; 401 or 403 otherwise."""
        principal = self.principal_of(authorization)
        if rank(principal.role) < rank(role):
            raise ForbiddenError(f"this needs the {role} role; the token has {principal.role}")
        return principal

    def require_agent(self, authorization: str | None, agent_id: str) -> Principal:
        """A supervisor (or admin), or an agent token bound to ``agent_id``; else 403."""
        principal = self.principal_of(authorization)
        if not principal.may_act_on(agent_id):
            raise ForbiddenError(
                "an agent token may only act on its own agent"
                if principal.agent_id is not None
                else "this needs the supervisor role or a token bound to this agent"
            )
        return principal

    def bound_agents(self) -> set[str]:
        """Agent ids named by bound tokens (checked against the roster at start)."""
        return {p.agent_id for p in self._tokens.values() if p.agent_id is not None}


def generated_admin_token(data_dir: Path) -> str:
    """The admin token kept in the data dir, created (readable by us only) on first use."""
    path = data_dir / "api-token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token
