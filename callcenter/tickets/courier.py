"""The courier: claims due outbox rows and delivers them to the ticket backend.

Runs as an asyncio task on the loop the Twisted reactor runs on; database work goes to a
thread pool (``in_thread``), HTTP is asynchronous. A failed attempt is retried with
exponential backoff and jitter (``Retry-After`` honoured) while the helpdesk may recover
(network errors, timeouts, 408/425/429, 5xx); a refusal (other 4xx) is dead-lettered with its
reason; 401/403 is dead-lettered *and* alarmed (logged at ERROR, counted), because every
following request will fail the same way until someone fixes the credentials. A row still
failing ``give_up_after`` seconds after it was written is dead-lettered too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram

from callcenter.domain.tickets import Backoff, TicketDraft, TicketUpdate, Verdict, retry_delay
from callcenter.tickets.backends import DeliveryError, TicketBackend
from callcenter.tickets.outbox import CREATE, DEAD, PENDING, Outbox, OutboxRow

log = logging.getLogger(__name__)

InThread = Callable[..., Awaitable[Any]]

DELIVERED = Counter(
    "callcenter_tickets_delivered_total",
    "Ticket operations the helpdesk accepted",
    ["backend", "operation"],
)
FAILED = Counter(
    "callcenter_tickets_attempts_failed_total",
    "Failed ticket delivery attempts, by what happens next (retry, dead, bad-credentials)",
    ["backend", "verdict"],
)
DEAD_LETTERED = Counter(
    "callcenter_tickets_dead_lettered_total",
    "Ticket operations dead-lettered (see GET /api/tickets/outbox?state=dead)",
    ["backend"],
)
CREDENTIAL_ALARMS = Counter(
    "callcenter_tickets_credential_alarms_total",
    "Helpdesk answers saying our credentials are invalid (401/403)",
    ["backend"],
)
DELIVERY_SECONDS = Histogram(
    "callcenter_tickets_delivery_seconds",
    "Time one delivery attempt took",
    ["backend"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@dataclass(frozen=True)
class CourierSettings:
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    batch: int = 20
    backoff: Backoff = field(default_factory=Backoff)
    give_up_after_seconds: float = 72 * 3600.0
    # An update whose call never got a ticket (not ticket-worthy) is dead after this.
    orphan_update_seconds: float = 600.0

    @property
    def lease_seconds(self) -> float:
        """Long enough for a create's requests (lookup, requester, ticket) to time out."""
        return 4 * self.timeout_seconds + 30.0


class Courier:
    def __init__(
        self,
        outbox: Outbox,
        backend: TicketBackend,
        in_thread: InThread,
        settings: CourierSettings,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self.outbox = outbox
        self.backend = backend
        self._in_thread = in_thread
        self.settings = settings
        self._clock = clock
        self._random = random
        self.worker = uuid.uuid4().hex[:16]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Something was just queued: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.backend.close()

    async def _run(self) -> None:
        while True:
            try:
                handled = await self.deliver_due()
            except Exception:  # database unavailable: rows wait in the outbox
                log.exception("ticket outbox: cannot claim rows; retrying")
                handled = 0
            if handled >= self.settings.batch:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim what is due and deliver it concurrently; answers the rows taken."""
        now = self._clock()
        rows: list[OutboxRow] = await self._in_thread(
            self.outbox.claim,
            self.worker,
            now,
            self.settings.lease_seconds,
            self.settings.batch,
        )
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: OutboxRow) -> None:
        name = self.backend.name
        started = time.monotonic()
        try:
            if row.operation == CREATE:
                draft = TicketDraft.from_json(row.payload)
                ref = await self.backend.create(draft, row.dedup_key, row.attempts - 1)
            else:
                create = await self._ticket_for_update(row)
                if create is None or create.ticket_ref is None:
                    return
                ref = create.ticket_ref
                change = TicketUpdate.from_json(row.payload)
                already = TicketDraft.from_json(create.payload)
                if (already.disposition, already.notes) != (change.disposition, change.notes):
                    await self.backend.update(ref, change, row.dedup_key, already)
                # else the ticket was created with this very wrap-up: nothing to send
        except DeliveryError as failure:
            await self._failed(row, failure)
        except Exception as exc:  # a bug or an unexpected answer: keep the row, retry later
            log.exception("ticket outbox row %d: unexpected failure", row.id)
            await self._failed(row, DeliveryError(Verdict.RETRY, f"internal error: {exc!r}"))
        else:
            now = self._clock()
            await self._in_thread(self.outbox.delivered, row.id, self.worker, name, ref, None, now)
            DELIVERED.labels(name, row.operation).inc()
            log.info("ticket %s for call %s: %s delivered", ref, row.call_id, row.operation)
        finally:
            DELIVERY_SECONDS.labels(name).observe(time.monotonic() - started)

    async def _ticket_for_update(self, row: OutboxRow) -> OutboxRow | None:
        """The delivered create an update applies to, or None when it must wait (or is dead)."""
        now = self._clock()
        create: OutboxRow | None = await self._in_thread(self.outbox.ticket_of, row.call_id)
        if create is not None and create.state == DEAD:
            reason = f"the ticket was never created: {create.last_error}"
            await self._dead(row, None, reason)
            return None
        if create is None and now - row.created_at > self.settings.orphan_update_seconds:
            await self._dead(row, None, "this call has no ticket (it did not need one)")
            return None
        if create is None or create.state == PENDING or create.ticket_ref is None:
            await self._in_thread(
                self.outbox.postpone,
                row.id,
                self.worker,
                now + self.settings.poll_seconds * 2,
                "waiting for the ticket to be created",
                now,
            )
            return None
        return create

    async def _failed(self, row: OutboxRow, failure: DeliveryError) -> None:
        name = self.backend.name
        now = self._clock()
        FAILED.labels(name, failure.verdict.value).inc()
        if failure.verdict is Verdict.BAD_CREDENTIALS:
            CREDENTIAL_ALARMS.labels(name).inc()
            log.error(
                "ALARM: the %s helpdesk rejects our credentials; ticket for call %s "
                "dead-lettered (fix tickets.%s credentials, then POST "
                "/api/tickets/outbox/%d/retry): %s",
                name,
                row.call_id,
                name,
                row.id,
                failure.reason,
            )
            await self._dead(row, failure.status, failure.reason)
        elif failure.verdict is Verdict.DEAD:
            await self._dead(row, failure.status, failure.reason)
        elif now - row.created_at > self.settings.give_up_after_seconds:
            reason = f"gave up after {row.attempts} attempts: {failure.reason}"
            await self._dead(row, failure.status, reason)
        else:
            delay = retry_delay(
                row.attempts, self.settings.backoff, self._random, failure.retry_after
            )
            log.warning(
                "ticket outbox row %d (call %s, %s): attempt %d failed, retry in %.1fs: %s",
                row.id,
                row.call_id,
                row.operation,
                row.attempts,
                delay,
                failure.reason,
            )
            await self._in_thread(
                self.outbox.retry_later,
                row.id,
                self.worker,
                now + delay,
                failure.status,
                failure.reason,
                now,
            )

    async def _dead(self, row: OutboxRow, status: int | None, reason: str) -> None:
        DEAD_LETTERED.labels(self.backend.name).inc()
        log.warning("ticket outbox row %d (call %s) dead-lettered: %s", row.id, row.call_id, reason)
        await self._in_thread(self.outbox.dead, row.id, self.worker, status, reason, self._clock())
