"""Generic webhook: each ticket operation POSTed as JSON, signed, with an idempotency key.

Headers: ``X-Callcenter-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared
secret>``, ``Idempotency-Key: <call id>:create`` (or ``:update:<n>``), ``X-Callcenter-Event``.
The receiver must treat a repeated key as the same request: the outbox re-sends after a
timeout, when it cannot know whether the first one arrived. It answers 2xx (a JSON ``id`` or
``ticket_id`` in the body becomes the ticket reference) or ``409 Conflict`` for a key it has
already processed (counted as delivered).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from callcenter.domain.tickets import TicketDraft, TicketUpdate
from callcenter.tickets.backends import DeliveryError, HttpHelpdesk

SIGNATURE_HEADER = "X-Callcenter-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookBackend(HttpHelpdesk):
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout_seconds: float) -> None:
        super().__init__(url, timeout_seconds, auth=None)
        self._url = url
        self._secret = secret

    async def create(self, draft: TicketDraft, key: str, previous_attempts: int) -> str:
        reply = await self._post("ticket.create", key, {"ticket": draft.to_json()})
        ref = reply.get("id", reply.get("ticket_id")) if reply else None
        return str(ref) if ref not in (None, "") else key

    async def update(
        self, ticket_ref: str, change: TicketUpdate, key: str, ticket: TicketDraft
    ) -> None:
        await self._post(
            "ticket.update", key, {"ticket_ref": ticket_ref, "update": change.to_json()}
        )

    async def _post(self, event: str, key: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        body = json.dumps(
            {"event": event, "idempotency_key": key, **fields}, separators=(",", ":")
        ).encode()
        headers = {
            SIGNATURE_HEADER: signature(self._secret, body),
            "Idempotency-Key": key,
            "X-Callcenter-Event": event,
        }
        try:
            response = await self.call("POST", self._url, content=body, headers=headers)
        except DeliveryError as failure:
            if failure.status == 409:  # the receiver already has this key: delivered before
                return None
            raise
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
