"""``tickets:`` and ``queues.<q>.ticket_priority``: secrets from the environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_config


def test_builtin_helpdesk_by_default_and_secrets_from_the_environment(tmp_path: Path) -> None:
    assert load_config(environ={}).tickets.backend == "builtin"
    path = tmp_path / "c.yaml"
    path.write_text(
        "tickets: {backend: zendesk, zendesk: {url: 'https://acme.zendesk.com', email: a@b.c}}\n"
    )
    env = {"CALLCENTER_TICKETS__ZENDESK__API_TOKEN": "tok-123"}
    config = load_config(path, environ=env)
    assert config.tickets.zendesk.api_token == "tok-123"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tickets: {backend: jira}", "tickets.backend: 'jira' is not one of"),
        (
            "tickets: {backend: webhook, webhook: {url: 'https://h.example'}}",
            "tickets.webhook.secret: required (or set CALLCENTER_TICKETS__WEBHOOK__SECRET)",
        ),
        (
            "tickets: {backend: freshdesk, freshdesk: {url: 'ftp://x', api_key: k}}",
            "tickets.freshdesk.url: must start with http:// or https://",
        ),
        ("queues: {billing: {ticket_priority: asap}}", "queues.billing.ticket_priority: 'asap'"),
        ("tickets: {timeout_seconds: 0}", "tickets.timeout_seconds"),
    ],
)
def test_bad_ticket_settings_say_which_key_and_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, environ={})
