"""Tickets from finished calls: which calls get one, what it says, and when to retry sending it.

A contact centre keeps a ticket for every call somebody may need to follow up: calls that
reached an agent (the agent's wrap-up disposition and notes land on it), callers who gave up in
a queue (someone should call them back) and calls that came in after hours. This module turns a
finished call (:class:`~callcenter.domain.history.CallSummary`) into a backend-neutral
:class:`TicketDraft`; the adapters in :mod:`callcenter.tickets` map it onto the built-in
helpdesk, a webhook, Zendesk or Freshdesk.

Delivery goes through a durable outbox; :func:`retry_delay` and :func:`verdict_for_status` are
its pure rules: exponential backoff with jitter, ``Retry-After`` honoured, permanent 4xx
dead-lettered, invalid credentials dead-lettered *and* alarmed.

-*- test-case-name: tests.unit.domain.test_tickets -*-
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from callcenter.domain.history import CallSummary

PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_PRIORITY = "normal"
CHOICE_SEPARATOR = " \u203a "


@dataclass(frozen=True)
class Requester:
    """Who the ticket is for: the caller, found again by number on the next call."""

    phone: str
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.phone


@dataclass(frozen=True)
class TicketDraft:
    """What every backend is asked to create; JSON-serialisable for the outbox."""

    call_id: str
    subject: str
    description: str
    requester: Requester
    priority: str
    tags: tuple[str, ...]
    queue: str | None = None
    agent: str | None = None
    outcome: str = ""
    recording_url: str | None = None
    disposition: str | None = None
    notes: str | None = None

    def with_disposition(self, disposition: str, notes: str | None) -> TicketDraft:
        """The draft with the agent's wrap-up folded in (before it was delivered)."""
        tags = tuple(dict.fromkeys((*self.tags, disposition_tag(disposition))))
        return replace(
            self,
            disposition=disposition,
            notes=notes,
            tags=tags,
            description=self.description + "\n" + disposition_text(disposition, notes),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "subject": self.subject,
            "description": self.description,
            "requester": {"phone": self.requester.phone, "name": self.requester.name},
            "priority": self.priority,
            "tags": list(self.tags),
            "queue": self.queue,
            "agent": self.agent,
            "outcome": self.outcome,
            "recording_url": self.recording_url,
            "disposition": self.disposition,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TicketDraft:
        requester = data["requester"]
        return cls(
            call_id=str(data["call_id"]),
            subject=str(data["subject"]),
            description=str(data["description"]),
            requester=Requester(str(requester["phone"]), requester.get("name")),
            priority=str(data["priority"]),
            tags=tuple(str(t) for t in data["tags"]),
            queue=data.get("queue"),
            agent=data.get("agent"),
            outcome=str(data.get("outcome") or ""),
            recording_url=data.get("recording_url"),
            disposition=data.get("disposition"),
            notes=data.get("notes"),
        )


@dataclass(frozen=True)
class TicketUpdate:
    """The agent's wrap-up sent after the ticket exists: a disposition and free notes."""

    call_id: str
    disposition: str
    notes: str | None = None
    agent: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "disposition": self.disposition,
            "notes": self.notes,
            "agent": self.agent,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TicketUpdate:
        return cls(
            call_id=str(data["call_id"]),
            disposition=str(data["disposition"]),
            notes=data.get("notes"),
            agent=data.get("agent"),
        )

    @property
    def text(self) -> str:
        return disposition_text(self.disposition, self.notes)


def disposition_tag(disposition: str) -> str:
    return _tag("disposition", disposition)


def disposition_text(disposition: str, notes: str | None) -> str:
    text = f"Disposition: {disposition}"
    return text + (f"\nNotes: {notes}" if notes else "")


@dataclass(frozen=True)
class TicketRules:
    """What the configuration decides: priorities per queue and where links point."""

    public_base_url: str = "http://127.0.0.1:8080"
    queue_priorities: Mapping[str, str] = field(default_factory=dict)
    after_hours_priority: str = DEFAULT_PRIORITY


def wants_ticket(call: CallSummary) -> bool:
    """A call somebody may follow up: it reached an agent, was abandoned in a queue, or came
    in after hours. Calls that ended in the IVR (a caller who pressed nothing and hung up, a
    transfer elsewhere) leave no ticket."""
    reached_agent = call.connected_at is not None or call.agent is not None
    return reached_agent or _abandoned_in_queue(call) or call.after_hours


def _abandoned_in_queue(call: CallSummary) -> bool:
    if any(a.result == "abandoned" for a in call.attempts):
        return True
    return call.outcome == "abandoned" and call.queue is not None


def build_ticket(call: CallSummary, rules: TicketRules) -> TicketDraft:
    """The ticket for a finished call (call :func:`wants_ticket` first)."""
    tags = ["callcenter", _tag("outcome", call.outcome)]
    if call.queue:
        tags.append(_tag("queue", call.queue))
    if call.connected_at is not None or call.agent is not None:
        tags.append("answered")
    if _abandoned_in_queue(call):
        tags.append("abandoned")
    if call.after_hours:
        tags.append("after_hours")
    if call.recording_url:
        tags.append("recorded")
    if call.disposition:
        tags.append(disposition_tag(call.disposition))
    recording = absolute_url(rules.public_base_url, call.recording_url)
    return TicketDraft(
        call_id=call.call_id,
        subject=subject_for(call),
        description=describe(call, recording),
        requester=Requester(call.caller or "anonymous", call.caller_name or None),
        priority=priority_for(call, rules),
        tags=tuple(dict.fromkeys(tags)),
        queue=call.queue,
        agent=call.agent,
        outcome=call.outcome,
        recording_url=recording,
        disposition=call.disposition,
        notes=call.notes,
    )


def subject_for(call: CallSummary) -> str:
    """e.g. ``Billing call from +442079460000: billing > card`` (a single angle quote)."""
    caller = call.caller or "anonymous"
    if call.queue:
        lead = f"{_title(call.queue)} call from {caller}"
    elif call.after_hours:
        lead = f"After-hours call from {caller}"
    else:
        lead = f"Call from {caller}"
    if call.choices:
        lead += ": " + CHOICE_SEPARATOR.join(call.choices)
    return lead


def priority_for(call: CallSummary, rules: TicketRules) -> str:
    if call.queue and call.queue in rules.queue_priorities:
        return rules.queue_priorities[call.queue]
    if call.after_hours:
        return rules.after_hours_priority
    return DEFAULT_PRIORITY


def describe(call: CallSummary, recording_url: str | None) -> str:
    """The call facts an agent reads first, one per line."""
    caller = call.caller or "anonymous"
    who = f"{caller} ({call.caller_name})" if call.caller_name else caller
    lines = [
        f"Call {call.call_id} from {who} to {call.did}",
        f"Arrived: {_when(call.arrived_at)}; ended: {_when(call.ended_at)}"
        f" ({_seconds(call.duration)})",
        f"Outcome: {call.outcome}, ended by {call.ended_by}"
        + (f" ({call.end_reason})" if call.end_reason else ""),
    ]
    if call.after_hours:
        lines.append("Arrived after hours")
    if call.choices:
        lines.append("IVR choices: " + CHOICE_SEPARATOR.join(call.choices))
    if call.digits:
        lines.append("Digits pressed: " + " ".join(call.digits))
    if call.queue:
        waited = f", waited {_seconds(call.wait_seconds)}" if call.wait_seconds is not None else ""
        lines.append(f"Queue: {call.queue}{waited}")
    if call.agent:
        talk = f", talked {_seconds(call.talk_seconds)}" if call.talk_seconds is not None else ""
        hold = f", on hold {_seconds(call.hold_seconds)}" if call.hold_seconds else ""
        lines.append(f"Agent: {call.agent}{talk}{hold}")
    elif _abandoned_in_queue(call):
        lines.append("The caller hung up before an agent answered: call them back.")
    if recording_url:
        lines.append(f"Recording: {recording_url}")
    if call.disposition:
        lines.append(disposition_text(call.disposition, call.notes))
    return "\n".join(lines)


def absolute_url(base: str, url: str | None) -> str | None:
    """A recording path (``/api/recordings/<id>/audio``) made absolute on the public URL."""
    if not url:
        return None
    if url.startswith(("http://", "https://")):
        return url
    return base.rstrip("/") + "/" + url.lstrip("/")


def _tag(kind: str, value: str) -> str:
    """Helpdesk tags are single words: lower case letters, digits, ``_`` and ``-``."""
    return f"{kind}_" + (re.sub(r"[^a-z0-9_-]+", "_", value.lower()).strip("_") or "none")


def _title(queue: str) -> str:
    return queue.replace("_", " ").replace("-", " ").strip().capitalize() or queue


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    total = round(value)
    minutes, seconds = divmod(total, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


# --- delivery rules ----------------------------------------------------------------------


class Verdict(enum.Enum):
    """What to do with an outbox row after one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"  # network error, timeout, 408/425/429, 5xx: the helpdesk may recover
    DEAD = "dead"  # the helpdesk refuses this request for good: dead-letter with the reason
    BAD_CREDENTIALS = "bad-credentials"  # 401/403: dead-letter, and alarm: nothing will work


RETRYABLE_STATUSES = frozenset({408, 425, 429})


def verdict_for_status(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (401, 403):
        return Verdict.BAD_CREDENTIALS
    if status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.RETRY
    return Verdict.DEAD


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt *n* waits about ``first * 2**(n-1)`` seconds,
    at most ``ceiling``, scaled by a random factor in [0.5, 1] so that many rows failing
    together (a helpdesk outage) do not all come back in the same second."""

    first_seconds: float = 2.0
    ceiling_seconds: float = 600.0
    max_retry_after_seconds: float = 3600.0


def retry_delay(
    attempt: int,
    backoff: Backoff,
    random: Callable[[], float],
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` ≥ 1 attempts made).

    A ``Retry-After`` from the helpdesk wins when it asks for longer than our backoff (it
    knows its rate limit); it is capped so a bogus value cannot park a ticket for days."""
    exponent = min(max(attempt - 1, 0), 30)
    nominal = min(backoff.ceiling_seconds, backoff.first_seconds * float(2**exponent))
    delay: float = nominal * (0.5 + 0.5 * random())
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, backoff.max_retry_after_seconds))
    return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
