"""Freshdesk REST API v2 (``https://<domain>.freshdesk.com``), API-key auth.

- Ticket: ``POST /api/v2/tickets`` with ``subject``, ``description`` (HTML), ``phone`` and
  ``name`` (Freshdesk finds the contact by phone number, or creates it: the requester is
  reused), ``priority`` 1-4 (low, medium, high, urgent), ``status`` 2 (open), ``source`` 3
  (phone), ``tags`` and ``custom_fields`` ``{<call id field>: <call id>}`` → ``201`` with the
  ticket (``id``).
- Never twice: Freshdesk tickets have no external id, so the call id goes into a custom
  single-line text field (``tickets.freshdesk.call_id_field``, default ``cf_call_id``; create
  it in Admin → Ticket fields). A create that may have happened before first searches
  ``GET /api/v2/search/tickets?query="call_id:'<call id>'"`` (custom fields are searched by
  name without the ``cf_`` prefix) and reuses a ticket found there.
- Wrap-up: ``PUT /api/v2/tickets/{id}`` ``{"tags": [… , "disposition_<x>"]}`` (the whole
  list: Freshdesk replaces it), then a private note ``POST /api/v2/tickets/{id}/notes``
  ``{"body", "private": true}``.
- Auth: HTTP basic ``<api key>:X``; ``401`` dead-letters and alarms; ``400`` (``{"description":
  "Validation failed", "errors": [{field, message, code}]}``) dead-letters with the errors;
  ``429`` is retried after its ``Retry-After``.
"""

from __future__ import annotations

import html

import httpx

from callcenter.domain.tickets import TicketDraft, TicketUpdate, Verdict, disposition_tag
from callcenter.tickets.backends import DeliveryError, HttpHelpdesk, json_of

PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
STATUS_OPEN = 2
SOURCE_PHONE = 3


def as_html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.splitlines())


class FreshdeskBackend(HttpHelpdesk):
    name = "freshdesk"

    def __init__(self, url: str, api_key: str, call_id_field: str, timeout_seconds: float) -> None:
        super().__init__(url, timeout_seconds, httpx.BasicAuth(api_key, "X"))
        self._field = call_id_field

    async def create(self, draft: TicketDraft, key: str, previous_attempts: int) -> str:
        if previous_attempts > 0:
            found = await self._find(draft.call_id)
            if found is not None:
                return found
        ticket = {
            "subject": draft.subject,
            "description": as_html(draft.description),
            "phone": draft.requester.phone,
            "name": draft.requester.display_name,
            "priority": PRIORITY.get(draft.priority, 2),
            "status": STATUS_OPEN,
            "source": SOURCE_PHONE,
            "tags": list(draft.tags),
            "custom_fields": {self._field: draft.call_id},
        }
        reply = json_of(await self.call("POST", "/api/v2/tickets", ticket))
        if not isinstance(reply.get("id"), int):
            raise DeliveryError(Verdict.DEAD, f"Freshdesk answered without an id: {reply!r:.200}")
        return str(reply["id"])

    async def update(
        self, ticket_ref: str, change: TicketUpdate, key: str, ticket: TicketDraft
    ) -> None:
        # The tag first: a PUT of the whole tag list is idempotent, a note is not.
        tags = list(dict.fromkeys([*ticket.tags, disposition_tag(change.disposition)]))
        await self.call("PUT", f"/api/v2/tickets/{ticket_ref}", {"tags": tags})
        note = {"body": as_html(change.text), "private": True}
        await self.call("POST", f"/api/v2/tickets/{ticket_ref}/notes", note)

    async def _find(self, call_id: str) -> str | None:
        name = self._field.removeprefix("cf_")
        safe = call_id.replace("'", "")
        response = await self.call(
            "GET", "/api/v2/search/tickets", params={"query": f"\"{name}:'{safe}'\""}
        )
        results = json_of(response).get("results")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            return str(results[0]["id"])
        return None
