"""Bearer-token authentication with roles (agent < supervisor < admin).

Tokens come from the config (``http.tokens``). When none are configured, one admin token is
generated on first start and kept in ``<data_dir>/api-token`` (mode 600), so a fresh service is
never open to anyone on the network; its value is never logged.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from callcenter.web.errors import ForbiddenError, UnauthorizedError

ROLES = ("agent", "supervisor", "admin")


def rank(role: str) -> int:
    return ROLES.index(role)


class TokenAuth:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = dict(tokens)

    def role_of(self, authorization: str | None) -> str:
        """The role granted by an ``Authorization: Bearer …`` header; 401 when none is."""
        if not authorization or not authorization.startswith("Bearer "):
            raise UnauthorizedError("missing bearer token (Authorization: Bearer <token>)")
        presented = authorization[len("Bearer ") :].strip()
        for token, role in self._tokens.items():
            if hmac.compare_digest(token.encode(), presented.encode()):
                return role
        raise UnauthorizedError("unknown or revoked token")

    def require(self, authorization: str | None, role: str) -> str:
        granted = self.role_of(authorization)
        if rank(granted) < rank(role):
            raise ForbiddenError(f"this needs the {role} role; the token has {granted}")
        return granted


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
