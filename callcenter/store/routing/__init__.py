"""The Redis side of routing: live agent and queue state, and the atomic match.

See :mod:`callcenter.store.routing.state` for how atomicity is achieved and the key layout
in :mod:`callcenter.store.keys`.
"""

from callcenter.store.routing.state import CANDIDATE_PAGE, WALK_LIMIT, RoutingState
from callcenter.store.routing.views import AgentView, CallView, Match, UnknownAgentError

__all__ = [
    "CANDIDATE_PAGE",
    "WALK_LIMIT",
    "AgentView",
    "CallView",
    "Match",
    "RoutingState",
    "UnknownAgentError",
]
