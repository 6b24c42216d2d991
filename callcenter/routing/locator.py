"""Where the front sends a worker's INVITE for an agent (or a supervisor rung to monitor a
call): the registrar's live bindings."""

from __future__ import annotations

from collections.abc import Callable

from callcenter.roster import Roster
from callcenter.sip.locator import Location, targets_from_bindings
from callcenter.store.registrations import BindingStore


class BindingLocator:
    def __init__(self, roster: Roster, bindings: BindingStore, clock: Callable[[], float]) -> None:
        self._roster = roster
        self._bindings = bindings
        self._clock = clock

    async def locate(self, aor: str) -> Location:
        roster = self._roster
        if roster.agent_by_username(aor) is None and roster.supervisor_by_username(aor) is None:
            return None  # neither an agent nor a supervisor: 404
        return targets_from_bindings(await self._bindings.current(aor, self._clock()))
