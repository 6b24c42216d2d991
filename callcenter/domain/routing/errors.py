"""Errors the routing domain raises, each with a stable ``error_id`` slug.

The REST API and the softphone feature codes turn a refused agent action into
a status code or a spoken message; they key on the slug, never on the text,
so the text can improve without breaking clients.
"""

from __future__ import annotations

#: Every slug a :class:`TransitionError` can carry, with what it means.
TRANSITION_SLUGS: dict[str, str] = {
    "agent-logged-in": "login refused: the agent is already logged in",
    "agent-offline": "the agent must log in first",
    "agent-not-available": "a call can only be offered to an available agent",
    "agent-already-available": "ready refused: the agent is already available",
    "agent-ringing": "refused while a call is being offered to the agent",
    "agent-on-call": "refused while the agent is on a call",
    "agent-not-ringing": "no call is being offered to the agent",
    "agent-not-on-call": "the agent is not on a call",
    "agent-not-in-wrap-up": "the agent is not in wrap-up",
    "wrap-up-not-over": "the wrap-up time has not run out yet",
    "wrong-call": "the agent is busy with another call than the one named",
}


class RoutingError(Exception):
    """Base of the routing domain's errors; ``error_id`` is a stable slug."""

    error_id: str = "routing-error"


class RoutingConfigError(RoutingError, ValueError):
    """An agent, queue or escalation step is configured with impossible values."""

    error_id = "routing-config-invalid"


class TransitionError(RoutingError):
    """An agent was asked to do something its current state does not allow.

    ``error_id`` is one of :data:`TRANSITION_SLUGS`; ``status`` is the state
    the agent stays in and ``command`` the name of the refused command.
    """

    def __init__(self, error_id: str, agent_id: str, status: str, command: str) -> None:
        if error_id not in TRANSITION_SLUGS:
            raise ValueError(f"unknown transition error slug {error_id!r}")
        self.error_id = error_id
        self.agent_id = agent_id
        self.status = status
        self.command = command
        super().__init__(
            f"agent {agent_id}: {command} refused in state {status}: {TRANSITION_SLUGS[error_id]}"
        )
