"""What a ticket backend does, and how an HTTP helpdesk's answers become retry decisions.

A backend creates a ticket for a call (answering the helpdesk's ticket id) and applies a
wrap-up to it. It raises :class:`DeliveryError` with a :class:`Verdict`: the courier retries
``RETRY`` with backoff, dead-letters ``DEAD`` and ``BAD_CREDENTIALS`` (and alarms on the
latter). ``previous_attempts`` tells a backend that an earlier attempt may have created the
ticket (a timeout after the request was sent, or a crash): it must look before creating again.

HTTP goes through ``httpx.AsyncClient`` on the asyncio loop the Twisted reactor runs on: its
exceptions separate "could not connect" (nothing sent) from "sent, no answer" (ambiguous),
and its timeouts are per phase.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import httpx

from callcenter.domain.tickets import (
    TicketDraft,
    TicketUpdate,
    Verdict,
    parse_retry_after,
    verdict_for_status,
)

BODY_EXCERPT = 300  # characters of a refusal's body kept as the reason


class DeliveryError(Exception):
    def __init__(
        self,
        verdict: Verdict,
        reason: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class TicketBackend(Protocol):
    name: str

    async def create(self, draft: TicketDraft, key: str, previous_attempts: int) -> str:
        """The helpdesk's id of the ticket for ``draft.call_id`` (created, or found)."""

    async def update(
        self, ticket_ref: str, change: TicketUpdate, key: str, ticket: TicketDraft
    ) -> None:
        """Apply the wrap-up to the ticket (``ticket``: what it was created from)."""

    async def close(self) -> None:
        """Release connections."""


class HttpHelpdesk:
    """Shared HTTP plumbing: one client, timeouts, and status → verdict."""

    name = "http"

    def __init__(self, base_url: str, timeout_seconds: float, auth: httpx.Auth | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            auth=auth,
            headers={"accept": "application/json", "user-agent": "callcenter-tickets"},
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """The response when 2xx; otherwise :class:`DeliveryError` saying why."""
        url = path if path.startswith("http") else self.base_url + path
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
        send_headers = dict(headers or {})
        if content is not None:
            send_headers.setdefault("content-type", "application/json")
        try:
            response = await self.client.request(
                method, url, content=content, headers=send_headers, params=params
            )
        except httpx.ConnectError as exc:
            raise DeliveryError(Verdict.RETRY, f"cannot connect to {self.base_url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                Verdict.RETRY, f"no answer from {self.base_url} in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(Verdict.RETRY, f"{self.base_url}: {exc!r}") from exc
        status = response.status_code
        verdict = verdict_for_status(status)
        if verdict is Verdict.DELIVERED:
            return response
        reason = f"{method} {path}: {status} {response.reason_phrase}: {excerpt(response.text)}"
        if verdict is Verdict.BAD_CREDENTIALS:
            reason = f"invalid helpdesk credentials ({status}); {reason}"
        raise DeliveryError(
            verdict,
            reason,
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after"), time.time()),
        )


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 1] + "…"


def json_of(response: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's JSON object, or a (dead-lettered) failure: the helpdesk said yes in a
    form we cannot read, so retrying would create the same ticket again."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise DeliveryError(
            Verdict.DEAD,
            f"{response.status_code} answer is not a JSON object: {excerpt(response.text)}",
            status=response.status_code,
        )
    return data
