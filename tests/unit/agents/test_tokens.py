"""API tokens bound to one agent (``agent:<id>``): parsing, config validation, who may act."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.agents.service import unknown_token_agents
from callcenter.config import Config, ConfigError, load_config
from callcenter.roster import build_roster
from callcenter.web.auth import Principal, TokenAuth, parse_role
from callcenter.web.errors import ForbiddenError, UnauthorizedError

ANN = "ann-token-0123456789"
BOB = "bob-token-0123456789"
PLAIN = "plain-agent-token-0123"
SUPERVISOR = "supervisor-token-0123"


def auth() -> TokenAuth:
    return TokenAuth({ANN: "agent:ann", BOB: "agent:bob", PLAIN: "agent", SUPERVISOR: "supervisor"})


@pytest.mark.parametrize(
    ("value", "principal"),
    [
        ("agent", Principal("agent")),
        ("supervisor", Principal("supervisor")),
        ("admin", Principal("admin")),
        ("agent:ann", Principal("agent", "ann")),
        ("supervisor:Sue Smith", Principal("supervisor")),
        ("admin:ops@example.com", Principal("admin")),
    ],
)
def test_roles_parse(value: str, principal: Principal) -> None:
    assert parse_role(value) == principal


@pytest.mark.parametrize(
    "value",
    [
        "agent:",
        "agent: ",
        "boss",
        "Agent",
        "supervisor:",
        "supervisor: sue",
        "boss:sue",
        "admin:" + "x" * 65,
        "supervisor:sue\n",
    ],
)
def test_bad_roles_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_role(value)


def test_every_token_has_a_name_for_the_audit_trail_but_never_the_token() -> None:
    named = TokenAuth({SUPERVISOR: "supervisor:Sue Smith", ANN: "agent:ann", PLAIN: "admin"})
    assert named.principal_of(f"Bearer {SUPERVISOR}").name == "Sue Smith"
    assert named.principal_of(f"Bearer {ANN}").name == "agent:ann"
    unnamed = named.principal_of(f"Bearer {PLAIN}").name
    assert unnamed.startswith("admin-") and len(unnamed) == len("admin-") + 8
    assert PLAIN not in unnamed


def test_a_bound_token_has_the_agent_role() -> None:
    assert auth().role_of(f"Bearer {ANN}") == "agent"
    with pytest.raises(ForbiddenError):
        auth().require(f"Bearer {ANN}", "supervisor")


def test_a_bound_token_acts_only_on_its_own_agent() -> None:
    assert auth().require_agent(f"Bearer {ANN}", "ann") == Principal("agent", "ann")
    with pytest.raises(ForbiddenError, match="only act on its own agent"):
        auth().require_agent(f"Bearer {ANN}", "bob")


def test_a_plain_agent_token_acts_on_no_agent_and_supervisors_on_all() -> None:
    with pytest.raises(ForbiddenError, match="supervisor role or a token bound"):
        auth().require_agent(f"Bearer {PLAIN}", "ann")
    assert auth().require_agent(f"Bearer {SUPERVISOR}", "bob").role == "supervisor"
    with pytest.raises(UnauthorizedError):
        auth().require_agent("Bearer nope-nope-nope-nope", "ann")


def test_bound_agents_are_listed_for_the_start_check() -> None:
    assert auth().bound_agents() == {"ann", "bob"}


def _config(tmp_path: Path, role: str) -> Config:
    path = tmp_path / "c.yaml"
    path.write_text(
        "agents:\n  - {id: ann, password: ann-password-1}\n"
        f"http:\n  tokens:\n    ann-token-0123456789: '{role}'\n"
    )
    return load_config(path, environ={})


def test_config_accepts_bound_tokens_and_the_start_check_finds_unknown_agents(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "agent:ann")
    roster = build_roster(config)
    assert unknown_token_agents(TokenAuth(config.http.tokens).bound_agents(), roster) == []
    config = _config(tmp_path, "agent:zed")
    roster = build_roster(config)
    assert unknown_token_agents(TokenAuth(config.http.tokens).bound_agents(), roster) == ["zed"]


@pytest.mark.parametrize("role", ["agent:", "boss", "agent:  "])
def test_config_refuses_bad_roles(tmp_path: Path, role: str) -> None:
    with pytest.raises(ConfigError, match=r"http\.tokens: role"):
        _config(tmp_path, role)
