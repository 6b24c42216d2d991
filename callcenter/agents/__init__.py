"""Agents' state control: REST API, softphone feature codes, registration → routing.

- :mod:`~callcenter.agents.service`: :class:`AgentsService`, the one place that changes an
  agent's state on a person's request (login, logout, pause, ready) and tells routing.
- :mod:`~callcenter.agents.http`: ``/api/agents`` on top of it.
- :mod:`~callcenter.agents.feature_codes`: ``*40``… dialled from an authenticated softphone.
- :mod:`~callcenter.agents.errors`: API errors with ``error_id`` and status.
"""

from callcenter.agents.errors import (
    AgentNotFoundError,
    AgentTokenError,
    AgentTransitionError,
)
from callcenter.agents.feature_codes import FeatureCodeDesk, FeatureCodeOutcome, parse_feature_code
from callcenter.agents.http import AgentsResource
from callcenter.agents.service import AgentsService, AgentView, unknown_token_agents

__all__ = [
    "AgentNotFoundError",
    "AgentTokenError",
    "AgentTransitionError",
    "AgentView",
    "AgentsResource",
    "AgentsService",
    "FeatureCodeDesk",
    "FeatureCodeOutcome",
    "parse_feature_code",
    "unknown_token_agents",
]
