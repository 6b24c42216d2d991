"""The periods KPIs are reported over: today (local midnight in the configured time zone
until now) and rolling windows of the last 15 minutes and the last hour.

-*- test-case-name: tests.unit.kpi.test_book -*-
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from enum import StrEnum


class Window(StrEnum):
    FIFTEEN_MINUTES = "15m"
    HOUR = "1h"
    TODAY = "today"


#: Length of each rolling window in seconds.
ROLLING_SECONDS = {Window.FIFTEEN_MINUTES: 900.0, Window.HOUR: 3600.0}
#: The longest rolling window: detail older than this is not needed.
LONGEST_ROLLING_SECONDS = max(ROLLING_SECONDS.values())


def day_start(at: float, tz: tzinfo) -> float:
    """Epoch seconds of the local midnight that starts the day ``at`` falls in."""
    local = datetime.fromtimestamp(at, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def window_start(window: Window, now: float, tz: tzinfo) -> float:
    """Epoch seconds where ``window`` begins when asked at ``now``."""
    if window is Window.TODAY:
        return day_start(now, tz)
    return now - ROLLING_SECONDS[window]
