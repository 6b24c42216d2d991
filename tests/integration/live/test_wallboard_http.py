"""Who may see the wallboard: bearer or session cookie, supervisor and up (401/403)."""

from __future__ import annotations

import time

from callcenter.domain.routing import Queue
from tests.integration.agents.kit import in_task
from tests.integration.live.kit import ADMIN, AGENT, SUPERVISOR, TOKENS, wallboard
from tests.support.redis_server import RedisServer

QUEUES = [Queue("support")]


def _cookie(headers: dict[str, str]) -> str:
    return headers["set-cookie"].split(";", 1)[0]


@in_task
async def test_without_credentials_or_with_an_agent_token_nothing_is_shown(
    redis_server: RedisServer,
) -> None:
    async with wallboard(redis_server, QUEUES) as board:
        for token, status, error_id in [
            (None, 401, "unauthorized"),
            ("not-a-token-at-all-xxxxxx", 401, "unauthorized"),
            (AGENT, 403, "forbidden"),
        ]:
            code, body, _ = await board.request("/api/wallboard", token)
            assert (code, body["error_id"]) == (status, error_id), body
            code, body, _ = await board.request("/api/wallboard/session", token, "POST")
            assert (code, body["error_id"]) == (status, error_id), body
            stream = await board.stream(token)
            assert stream.status == status
            assert stream.events.body()["error_id"] == error_id
        assert board.feed.listeners == 0
        for token in (SUPERVISOR, ADMIN):
            code, body, _ = await board.request("/api/wallboard", token)
            assert code == 200 and body["live"] is True and "support" in body["queues"]


@in_task
async def test_a_session_cookie_opens_the_stream_and_a_forged_one_does_not(
    redis_server: RedisServer,
) -> None:
    async with wallboard(redis_server, QUEUES) as board:
        code, body, headers = await board.request("/api/wallboard/session", method="POST")
        assert code == 200
        set_cookie = headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert "Path=/api/wallboard" in set_cookie
        assert body["expires_at"] > time.time() + 3600
        cookie = _cookie(headers)
        assert SUPERVISOR not in cookie  # the token itself never travels in the cookie
        code, body, _ = await board.request("/api/wallboard", token=None, cookie=cookie)
        assert code == 200
        stream = await board.stream(token=None, cookie=cookie)
        try:
            assert stream.status == 200
            assert stream.events.headers["Content-Type"].startswith("text/event-stream")
            first = await stream.next("snapshot")
            assert "support" in first.data["queues"]
        finally:
            stream.close()
        name, _, value = cookie.partition("=")
        fingerprint, expires, mac = value.split(".")
        forged = [
            f"{name}={fingerprint}.{int(expires) + 9999}.{mac}",  # longer life, same MAC
            f"{name}={fingerprint}.{expires}.{'0' * len(mac)}",
            f"{name}=garbage",
        ]
        for bad in forged:
            code, body, _ = await board.request("/api/wallboard", token=None, cookie=bad)
            assert (code, body["error_id"]) == (401, "unauthorized"), bad


@in_task
async def test_a_cookie_follows_its_token_revoked_or_lowered(redis_server: RedisServer) -> None:
    async with wallboard(redis_server, QUEUES) as board:
        _, _, headers = await board.request("/api/wallboard/session", method="POST")
        cookie = _cookie(headers)
    # the service restarts with the token lowered to agent, then with it gone
    lowered = {**TOKENS, SUPERVISOR: "agent"}
    async with wallboard(redis_server, QUEUES, tokens=lowered) as board:
        code, body, _ = await board.request("/api/wallboard", token=None, cookie=cookie)
        assert code == 403, body
    async with wallboard(redis_server, QUEUES, tokens={ADMIN: "admin"}) as board:
        code, body, _ = await board.request("/api/wallboard", token=None, cookie=cookie)
        assert code == 401, body
    async with wallboard(redis_server, QUEUES) as board:  # same token again: still valid
        code, body, _ = await board.request("/api/wallboard", token=None, cookie=cookie)
        assert code == 200, body


@in_task
async def test_the_page_is_public_static_and_self_contained(redis_server: RedisServer) -> None:
    async with wallboard(redis_server, QUEUES) as board:
        code, html, headers = await board.request("/wallboard", token=None)
        assert code == 200 and headers["content-type"].startswith("text/html")
        assert b'src="/wallboard/wallboard.js"' in html
        assert "default-src 'self'" in headers["content-security-policy"]
        for path, kind in [("wallboard.js", "text/javascript"), ("wallboard.css", "text/css")]:
            code, body, headers = await board.request(f"/wallboard/{path}", token=None)
            assert code == 200 and headers["content-type"].startswith(kind) and body
            assert b"http://" not in body and b"https://" not in body  # no CDN, no fetches
        for path in ("/wallboard/nope.js", "/api/wallboard/nope"):
            code, body, _ = await board.request(path, token=None)
            assert (code, body["error_id"]) == (404, "not-found")
