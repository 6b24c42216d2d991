"""Business hours: weekly opening ranges in a time zone, minus holidays.

The wall clock of the time zone decides, so a line that opens at 08:00 in
Europe/London opens at 08:00 local time on both sides of a DST change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in minutes after local midnight; ``end`` may be 1440 (24:00)."""

    start: int
    end: int

    def contains(self, moment: time) -> bool:
        minute = moment.hour * 60 + moment.minute
        return self.start <= minute < self.end


def parse_time_range(text: str) -> TimeRange | None:
    """Parse ``HH:MM-HH:MM``; ``None`` if malformed or not start < end."""
    match = _RANGE.match(text)
    if match is None:
        return None
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        return None
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start >= end:
        return None
    return TimeRange(start, end)


@dataclass(frozen=True)
class BusinessHours:
    """When a line is open. ``weekly`` maps Monday=0 … Sunday=6 to ranges."""

    timezone: ZoneInfo
    weekly: Mapping[int, tuple[TimeRange, ...]]
    holidays: frozenset[date]

    def is_open(self, now: datetime) -> bool:
        """Whether the line is open at the instant ``now`` (must be timezone-aware)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("business hours need a timezone-aware datetime")
        local = now.astimezone(self.timezone)
        if local.date() in self.holidays:
            return False
        return any(span.contains(local.time()) for span in self.weekly.get(local.weekday(), ()))
