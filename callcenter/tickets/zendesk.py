"""Zendesk Support REST API v2 (``https://<subdomain>.zendesk.com``), API-token auth.

- Requester: ``POST /api/v2/users/create_or_update.json`` with ``{"user": {name, phone,
  external_id: "callcenter-phone:<number>", role: "end-user"}}``: Zendesk matches users by
  ``external_id``, so the next call from the same number reuses the same requester.
- Ticket: ``POST /api/v2/tickets.json`` with ``{"ticket": {subject, comment: {body, public:
  false}, requester_id, priority (low|normal|high|urgent), tags, external_id:
  "callcenter-call:<call id>"}}`` → ``201 {"ticket": {"id": …}}``.
- Never twice: a create that may have happened before (an earlier attempt timed out after
  sending, or the process died mid-send) first lists ``GET /api/v2/tickets.json?external_id=…``
  and reuses a ticket found there.
- Wrap-up: ``PUT /api/v2/tickets/{id}.json`` with a private comment and ``additional_tags``.
- Auth: HTTP basic ``<email>/token:<api token>``; a 401 (``{"error": "Couldn't authenticate
  you"}``) dead-letters and alarms. ``422 RecordInvalid`` dead-letters with its details;
  ``429`` and 5xx are retried (``Retry-After`` honoured).
"""

from __future__ import annotations

import httpx

from callcenter.domain.tickets import TicketDraft, TicketUpdate, Verdict, disposition_tag
from callcenter.tickets.backends import DeliveryError, HttpHelpdesk, json_of


def external_id(call_id: str) -> str:
    return f"callcenter-call:{call_id}"


class ZendeskBackend(HttpHelpdesk):
    name = "zendesk"

    def __init__(self, url: str, email: str, api_token: str, timeout_seconds: float) -> None:
        super().__init__(url, timeout_seconds, httpx.BasicAuth(f"{email}/token", api_token))

    async def create(self, draft: TicketDraft, key: str, previous_attempts: int) -> str:
        if previous_attempts > 0:
            found = await self._find(draft.call_id)
            if found is not None:
                return found
        requester_id = await self._requester(draft)
        ticket = {
            "subject": draft.subject,
            "comment": {"body": draft.description, "public": False},
            "requester_id": requester_id,
            "priority": draft.priority,
            "tags": list(draft.tags),
            "external_id": external_id(draft.call_id),
        }
        reply = json_of(await self.call("POST", "/api/v2/tickets.json", {"ticket": ticket}))
        return _id_in(reply, "ticket")

    async def update(
        self, ticket_ref: str, change: TicketUpdate, key: str, ticket: TicketDraft
    ) -> None:
        tag = disposition_tag(change.disposition)
        body = {
            "ticket": {
                "comment": {"body": change.text, "public": False},
                "additional_tags": [tag],
            }
        }
        await self.call("PUT", f"/api/v2/tickets/{ticket_ref}.json", body)

    async def _find(self, call_id: str) -> str | None:
        response = await self.call(
            "GET", "/api/v2/tickets.json", params={"external_id": external_id(call_id)}
        )
        tickets = json_of(response).get("tickets")
        if isinstance(tickets, list) and tickets and isinstance(tickets[0], dict):
            return str(tickets[0]["id"])
        return None

    async def _requester(self, draft: TicketDraft) -> int:
        user = {
            "name": draft.requester.display_name,
            "phone": draft.requester.phone,
            "external_id": f"callcenter-phone:{draft.requester.phone}",
            "role": "end-user",
        }
        response = await self.call("POST", "/api/v2/users/create_or_update.json", {"user": user})
        return int(_id_in(json_of(response), "user"))


def _id_in(reply: dict[str, object], kind: str) -> str:
    item = reply.get(kind)
    if isinstance(item, dict) and isinstance(item.get("id"), int):
        return str(item["id"])
    raise DeliveryError(Verdict.DEAD, f"Zendesk answered without a {kind} id: {reply!r:.200}")
