"""Tickets, assembled from the configuration: rules, outbox, backend, courier, listener."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine

from callcenter.config import Config
from callcenter.domain.tickets import Backoff, TicketRules
from callcenter.tickets.backends import TicketBackend
from callcenter.tickets.builtin import BuiltinBackend
from callcenter.tickets.courier import Courier, CourierSettings
from callcenter.tickets.freshdesk import FreshdeskBackend
from callcenter.tickets.helpdesk import Helpdesk
from callcenter.tickets.listener import TicketListener
from callcenter.tickets.outbox import Outbox
from callcenter.tickets.webhook import WebhookBackend
from callcenter.tickets.zendesk import ZendeskBackend

InThread = Callable[..., Awaitable[Any]]


def rules_from(config: Config) -> TicketRules:
    base = config.tickets.public_base_url
    if not base:
        host = config.http.host if config.http.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        base = f"http://{host}:{config.http.port}"
    return TicketRules(
        public_base_url=base,
        queue_priorities={name: q.ticket_priority for name, q in config.queues.items()},
        after_hours_priority=config.tickets.after_hours_priority,
    )


def backend_from(config: Config, helpdesk: Helpdesk, in_thread: InThread) -> TicketBackend | None:
    t = config.tickets
    timeout = t.timeout_seconds
    if t.backend == "builtin":
        return BuiltinBackend(helpdesk, in_thread)
    if t.backend == "webhook":
        assert t.webhook.url and t.webhook.secret  # checked by the config
        return WebhookBackend(t.webhook.url, t.webhook.secret, timeout)
    if t.backend == "zendesk":
        z = t.zendesk
        assert z.url and z.email and z.api_token
        return ZendeskBackend(z.url, z.email, z.api_token, timeout)
    if t.backend == "freshdesk":
        f = t.freshdesk
        assert f.url and f.api_key
        return FreshdeskBackend(f.url, f.api_key, f.call_id_field, timeout)
    return None


class TicketService:
    def __init__(self, config: Config, engine: Engine, in_thread: InThread) -> None:
        t = config.tickets
        self.outbox = Outbox(engine)
        self.helpdesk = Helpdesk(engine)
        self.builtin = t.backend == "builtin"
        self.listener = TicketListener(rules_from(config))
        backend = backend_from(config, self.helpdesk, in_thread)
        self.courier: Courier | None = None
        if backend is not None:
            settings = CourierSettings(
                timeout_seconds=t.timeout_seconds,
                backoff=Backoff(
                    first_seconds=t.first_retry_seconds, ceiling_seconds=t.max_retry_seconds
                ),
                give_up_after_seconds=t.give_up_after_hours * 3600.0,
            )
            self.courier = Courier(self.outbox, backend, in_thread, settings)

    @property
    def enabled(self) -> bool:
        return self.courier is not None

    def start(self) -> None:
        if self.courier is not None:
            self.courier.start()

    def wake(self) -> None:
        if self.courier is not None:
            self.courier.wake()

    async def stop(self) -> None:
        if self.courier is not None:
            await self.courier.stop()
