"""The history writer on real SQLite and PostgreSQL: idempotent, late events, listeners once,
concurrent writers on one call."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from callcenter.domain.events import LogEntry
from callcenter.domain.history import CallSummary
from callcenter.history.database import HistoryDatabase
from callcenter.history.queries import CallFilter, HistoryQueries
from callcenter.history.tables import call_events, calls, legs, queue_attempts
from callcenter.history.writer import HistoryWriter, LoggedEvent
from tests.support.history_events import answered_call


def count(db: HistoryDatabase, table: sa.Table) -> int:
    with db.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def database(history_url: str) -> HistoryDatabase:
    db = HistoryDatabase(history_url)
    db.create_schema()
    return db


def test_replays_are_written_once_and_the_listener_fires_once(database: HistoryDatabase) -> None:
    writer = HistoryWriter(database)
    finished: list[str] = []

    def listener(connection: Connection, summary: CallSummary) -> None:
        assert connection.execute(sa.select(calls.c.call_id)).scalars().all() == ["c1"]
        finished.append(summary.call_id)

    writer.add_finished_listener(listener)
    events = answered_call("c1")
    writer.write(events[:5])
    assert finished == []
    writer.write(events)  # the first five again, then the rest: replayed ids are ignored
    writer.write(events[3:])
    assert finished == ["c1"]
    assert count(database, call_events) == len(events)
    assert count(database, queue_attempts) == 1 and count(database, legs) == 2

    late = LogEntry("c1-rec", "recording.saved", "c1", events[-1].event.at + 1,
                     {"url": "/api/recordings/c1/audio"})  # fmt: skip
    writer.write([LoggedEvent(late, events[-1].position + 1)])
    assert finished == ["c1"]  # a late event refines the record, it does not finish it again
    view = HistoryQueries(database).call("c1")
    assert view is not None
    assert view["recording_url"] == "/api/recordings/c1/audio"
    assert view["outcome"] == "completed" and view["ended_by"] == "caller"
    assert view["wait"] == 3.0 and view["talk_seconds"] == 60.0 and view["agent"] == "ann"
    assert view["choices"] == ["billing"] and view["digit_keys"] == ["1"]
    assert [d["digit"] for d in view["digits"]] == ["1"]
    assert [n["node"] for n in view["nodes"]] == ["menu", "billing"]
    assert [leg["kind"] for leg in view["legs"]] == ["caller", "agent"]
    assert view["attempts"][0]["result"] == "answered"


def test_a_failing_listener_rolls_the_batch_back(database: HistoryDatabase) -> None:
    writer = HistoryWriter(database)
    fail = [True]

    def listener(_: Connection, __: CallSummary) -> None:
        if fail[0]:
            raise RuntimeError("ticket system says no")

    writer.add_finished_listener(listener)
    with pytest.raises(RuntimeError):
        writer.write(answered_call("c1"))
    assert count(database, call_events) == 0 and count(database, calls) == 0
    fail[0] = False
    writer.write(answered_call("c1"))
    assert count(database, calls) == 1


def test_filters(database: HistoryDatabase) -> None:
    writer = HistoryWriter(database)
    writer.write(answered_call("c1", t0=1_790_000_000.0))
    writer.write(answered_call("c2", t0=1_790_000_100.0))
    queries = HistoryQueries(database)
    assert [c["call_id"] for c in queries.calls(CallFilter())] == ["c2", "c1"]
    assert [c["call_id"] for c in queries.calls(CallFilter(before=1_790_000_100.0))] == ["c1"]
    assert [c["call_id"] for c in queries.calls(CallFilter(since=1_790_000_050.0))] == ["c2"]
    assert queries.calls(CallFilter(queue="sales")) == []
    assert len(queries.calls(CallFilter(queue="billing", agent="ann", caller="442"))) == 2
    assert queries.calls(CallFilter(outcome="abandoned")) == []


def test_two_writers_on_one_call_at_once_lose_no_event(history_url: str) -> None:
    """Events of one call handed to two processes at once (a consumer group splits the log
    by entry, not by call) still end in one summary that has them all."""
    databases = [HistoryDatabase(history_url) for _ in range(2)]
    databases[0].create_schema()
    writers = [HistoryWriter(db) for db in databases]
    calls_ids = [f"c{n}" for n in range(15)]
    errors: list[BaseException] = []

    def work(half: int) -> None:
        try:
            for call_id in calls_ids:
                events = answered_call(call_id)
                writers[half].write(events[half::2])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    views = HistoryQueries(databases[0]).calls(CallFilter(limit=100))
    assert len(views) == len(calls_ids)
    for view in views:
        assert view["outcome"] == "completed" and view["talk_seconds"] == 60.0, view
        assert view["finalized"] is True
    for db in databases:
        db.dispose()
