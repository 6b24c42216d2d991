"""Where an agent's phone can be reached: the seam between the front's outbound routing and the
registrar's bindings.

A media worker dials an agent leg as ``sip:<aor>@<front>``; the front asks a
:class:`ContactLocator` for that AOR's contacts and forwards the INVITE to the first one. The
front never reads the binding store itself, so routing is unit-tested with a static locator and
the application plugs in the registrar (:func:`targets_from_bindings` turns its bindings into
targets).

Forking: the locator returns contacts best first and the front rings only the first. With
:func:`targets_from_bindings` that is the most recent registration, i.e. the phone the agent
touched last; parallel or sequential forking to several phones is a later feature.

-*- test-case-name: tests.unit.sip.test_outbound -*-
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from twisted.internet.defer import Deferred

from callcenter.sip.transport import Flow
from callcenter.store.registrations import Binding


@dataclass(frozen=True)
class Target:
    """One contact of an agent: ``uri`` goes in the Request-URI, ``flow`` is where the packet
    goes (the source of the REGISTER, so a phone behind NAT is reached through its binding,
    and over TCP the connection it opened)."""

    uri: str
    flow: Flow


Location: TypeAlias = Sequence[Target] | None
"""Contacts best first; ``[]``: a known AOR without a live binding (``480``); ``None``: not an
AOR we route to (``404``)."""


class ContactLocator(Protocol):
    def locate(self, aor: str) -> Location | Deferred[Location] | Awaitable[Location]:
        """The contacts of ``aor`` (the Request-URI user of a worker's INVITE)."""


@dataclass
class StaticLocator:
    """A fixed table, for tests and for phones with a fixed address (no REGISTER)."""

    targets: dict[str, list[Target]]

    def locate(self, aor: str) -> Location:
        return self.targets.get(aor)


def targets_from_bindings(bindings: Iterable[Binding]) -> list[Target]:
    """The registrar's live bindings as targets, most recent registration first."""
    ordered = sorted(bindings, key=lambda b: b.registered_at, reverse=True)
    return [Target(b.contact, Flow(b.transport, (b.source_host, b.source_port))) for b in ordered]
