from __future__ import annotations

import stat
from pathlib import Path

import pytest

from callcenter.web.auth import TokenAuth, generated_admin_token
from callcenter.web.errors import ForbiddenError, UnauthorizedError

SUPERVISOR = "s" * 20
AGENT = "a" * 20


def test_roles_are_ordered() -> None:
    auth = TokenAuth({SUPERVISOR: "supervisor", AGENT: "agent"})
    assert auth.require(f"Bearer {SUPERVISOR}", "agent") == "supervisor"
    with pytest.raises(ForbiddenError, match="needs the supervisor role; the token has agent"):
        auth.require(f"Bearer {AGENT}", "supervisor")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer wrong-token-xxxxxxxx"])
def test_missing_or_unknown_tokens_are_401(header: str | None) -> None:
    with pytest.raises(UnauthorizedError):
        TokenAuth({SUPERVISOR: "supervisor"}).require(header, "agent")


def test_generated_token_is_private_and_stable(tmp_path: Path) -> None:
    first = generated_admin_token(tmp_path)
    assert len(first) >= 32
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600
    assert generated_admin_token(tmp_path) == first
