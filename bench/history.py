"""History writer throughput: answered calls' events written in consumer-sized batches.

Each call is 10 events (arrival to end, as an answered call logs them), interleaved by time
as the log holds them, written by :class:`callcenter.history.writer.HistoryWriter` in batches
of 200 (the consumer's read size) into SQLite and, when the Debian ``postgresql`` binaries are
there, a throw-away PostgreSQL on a free port.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

from callcenter.history.database import HistoryDatabase
from callcenter.history.writer import HistoryWriter, LoggedEvent
from tests.support.history_events import answered_call
from tests.support.postgres import running_postgres, unavailable_reason

BATCH = 200  # the consumer's read size


def _events(calls: int) -> list[LoggedEvent]:
    logged = []
    for n in range(calls):
        t0 = 1_790_000_000.0 + n * 0.05  # a call every 50 ms: many calls in each batch
        logged += answered_call(f"c{n}", t0)
    logged.sort(key=lambda e: e.event.at)
    return [LoggedEvent(e.event, position) for position, e in enumerate(logged)]


def _measure(url: str, calls: int, batch: int) -> str:
    database = HistoryDatabase(url)
    database.create_schema()
    writer = HistoryWriter(database)
    events = _events(calls)
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        writer.write(events[i : i + batch])
    elapsed = time.perf_counter() - started
    database.dispose()
    return (
        f"{database.dialect}, batches of {batch}: {len(events)} events of {calls} calls in "
        f"{elapsed:.2f} s = "
        f"{len(events) / elapsed:.0f} events/s ({calls / elapsed:.0f} calls/s)"
    )


def run(calls: int, batch: int = BATCH) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield _measure(f"sqlite:///{directory}/history.sqlite3", calls, batch)
    reason = unavailable_reason()
    if reason is not None:
        yield f"postgresql: skipped ({reason})"
        return
    with running_postgres() as server:
        yield _measure(server.url, calls, batch)
