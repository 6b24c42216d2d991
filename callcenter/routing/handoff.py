"""Offers across controllers: a match is rung by the controller that holds the caller.

With several ``serve`` processes on one Redis, the atomic match may be made anywhere: an agent
freed on controller B can claim the best call, whose caller sits in a media worker of
controller A. Only A can dial the agent's leg (the bridge lives in that worker), so B hands the
match to A over Redis pub/sub. Each controller records the callers it owns when they queue and
listens on its own channel. A match whose owner is gone (it stopped, the caller left) is
undone by the caller of :meth:`OfferHandoff.forward`.

The same channel carries *notices* about a caller held elsewhere (:class:`CallNotice`): a
supervisor on controller B moved A's waiting caller to another queue or changed its priority
(the change itself is already in Redis; A updates the call record, the caller's announcements
and maximum wait, and matches it again), or logged out an agent whose phone A is ringing (A
stops the ringing and offers the call to the next agent).

-*- test-case-name: tests.e2e.test_two_controllers -*-
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import redis.asyncio as redis
from redis.exceptions import RedisError

from callcenter.store import keys
from callcenter.store.link import RedisLink
from callcenter.store.routing.views import Match

log = logging.getLogger(__name__)

OWNER_TTL_SECONDS = 86400  # longer than any call waits; removed when the call ends

NoticeKind = Literal["moved", "priority", "withdrawn"]


@dataclass(frozen=True)
class CallNotice:
    """Something changed for a caller, to be acted on by the controller holding it.

    ``moved``: ``before``/``after`` are queue names; ``priority``: the priorities as text;
    ``withdrawn``: ``agent`` was logged out while its phone rang for the call. ``by`` is the
    supervisor's name as the audit trail has it.
    """

    kind: NoticeKind
    call: str
    before: str = ""
    after: str = ""
    agent: str = ""
    by: str = ""


class OfferHandoff:
    def __init__(
        self,
        link: RedisLink,
        controller_id: str,
        on_offer: Callable[[Match], None],
        on_notice: Callable[[CallNotice], None] | None = None,
    ) -> None:
        self._link = link
        self.controller_id = controller_id
        self._on_offer = on_offer
        self.on_notice = on_notice
        self._listener: asyncio.Task[None] | None = None
        self.forwarded = 0
        self.received = 0

    def start(self) -> None:
        self._listener = asyncio.ensure_future(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def claim(self, call_id: str) -> None:
        """This controller holds the caller (through the ordered, outage-proof write queue)."""
        owner = self.controller_id

        async def write(client: redis.Redis) -> None:
            await client.set(keys.call_owner(call_id), owner, ex=OWNER_TTL_SECONDS)

        self._link.submit(write)

    def forget(self, call_id: str) -> None:
        async def write(client: redis.Redis) -> None:
            await client.delete(keys.call_owner(call_id))

        self._link.submit(write)

    async def forward(self, match: Match) -> bool:
        """Hand the match to the caller's controller; False if none is there to take it."""
        owner = await self._link.read(lambda c: c.get(keys.call_owner(match.call_id)))
        if not owner or owner == self.controller_id:
            return False  # the caller is gone (it was ours, or nobody holds it)
        message = json.dumps({"agent": match.agent_id, "call": match.call_id, "queue": match.queue})
        listeners = await self._link.read(
            lambda c: c.publish(keys.offers_channel(str(owner)), message)
        )
        if listeners:
            self.forwarded += 1
        return bool(listeners)

    async def notify(self, notice: CallNotice) -> bool:
        """Send a notice to the controller holding the caller; False if none takes it."""
        owner = await self._link.read(lambda c: c.get(keys.call_owner(notice.call)))
        if not owner or owner == self.controller_id:
            return False
        message = json.dumps({"notice": asdict(notice)})
        listeners = await self._link.read(
            lambda c: c.publish(keys.offers_channel(str(owner)), message)
        )
        return bool(listeners)

    async def _listen(self) -> None:
        channel = keys.offers_channel(self.controller_id)
        while True:
            pubsub = self._link.client.pubsub()
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._received(str(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("offer hand-off channel lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _received(self, data: str) -> None:
        notice: CallNotice | None = None
        try:
            body = json.loads(data)
            if isinstance(body, dict) and "notice" in body:
                notice = CallNotice(**body["notice"])
                if notice.kind not in ("moved", "priority", "withdrawn"):
                    raise ValueError(notice.kind)
                if notice.kind == "priority":
                    int(notice.after)  # a whole number, or the message is bad
            else:
                match = Match(agent_id=body["agent"], call_id=body["call"], queue=body["queue"])
        except (ValueError, KeyError, TypeError):
            log.error("bad offer hand-off message: %r", data[:200])
            return
        if notice is not None:
            if self.on_notice is not None:
                try:
                    self.on_notice(notice)
                except Exception:  # one bad notice must not end the listener
                    log.exception("offer hand-off: notice %r failed", notice)
            return
        self.received += 1
        self._on_offer(match)
