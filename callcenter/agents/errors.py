"""Errors of the agents API: each a stable ``error_id`` slug with its HTTP status.

A refused transition keeps the domain's slug (``agent-logged-in``, ``agent-on-call``…) as its
``error_id`` so a client branches on the same words the state machine uses; the status is
``409 Conflict`` because the request was fine but the agent's state does not allow it now.
"""

from __future__ import annotations

from callcenter.domain.routing import TRANSITION_SLUGS, TransitionError
from callcenter.web.errors import ApiError, BadRequestError, NotFoundError


class AgentNotFoundError(NotFoundError):
    """No configured agent has this id."""

    error_id = "agent-not-found"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no agent with id {agent_id!r}")
        self.agent_id = agent_id


class AgentTransitionError(ApiError):
    """The agent's current state refuses the command; ``error_id`` is the domain's slug."""

    status = 409
    error_id = "agent-transition-refused"

    def __init__(self, refused: TransitionError) -> None:
        super().__init__(
            f"{refused.command} refused: agent {refused.agent_id} is {refused.status}; "
            f"{TRANSITION_SLUGS[refused.error_id]}"
        )
        self.error_id = refused.error_id
        self.agent_id = refused.agent_id
        self.agent_status = refused.status


class AgentTokenError(Exception):
    """A bound API token (``agent:<id>``) names an agent the roster does not have."""


class InvalidPauseReasonError(BadRequestError):
    """A pause needs a short, non-blank reason (it is shown to supervisors and reported)."""

    error_id = "invalid-pause-reason"
