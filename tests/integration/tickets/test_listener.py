"""The history writer's finished-call listener queues exactly one ticket per call that needs
one, in the same transaction as the call's end (real SQLite history database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.domain.events import LogEntry
from callcenter.domain.tickets import TicketRules
from callcenter.history.database import HistoryDatabase
from callcenter.history.writer import HistoryWriter, LoggedEvent
from callcenter.tickets.listener import TicketListener
from callcenter.tickets.outbox import Outbox

T0 = 1_800_000_000.0


def events(call_id: str, *steps: tuple[str, float, dict[str, Any]]) -> list[LoggedEvent]:
    return [
        LoggedEvent(LogEntry(f"{call_id}-{n}", kind, call_id, T0 + at, data), n)
        for n, (kind, at, data) in enumerate(steps)
    ]


def arrived(caller: str) -> tuple[str, float, dict[str, Any]]:
    return ("call.arrived", 0.0, {"caller": caller, "caller_name": "", "did": "100"})


def test_answered_and_abandoned_calls_get_one_ticket_ivr_only_calls_none(tmp_path: Path) -> None:
    db = HistoryDatabase(f"sqlite:///{tmp_path / 'history.sqlite3'}")
    db.create_schema()
    writer = HistoryWriter(db)
    rules = TicketRules("https://cc.example.com", {"billing": "urgent"})
    writer.add_finished_listener(TicketListener(rules, clock=lambda: T0))
    answered = events(
        "answered",
        arrived("+4420"),
        ("call.answered", 0.5, {"flow": "support.yaml"}),
        ("ivr.choice", 2.0, {"choice": "billing"}),
        ("call.queued", 3.0, {"queue": "billing", "priority": 0}),
        ("call.offered", 4.0, {"agent": "ann", "queue": "billing"}),
        ("call.connected", 6.0, {"agent": "ann", "wait": 3.0}),
        ("recording.started", 6.1, {"agent": "ann", "queue": "billing", "path": "x.wav"}),
        ("call.ended", 60.0, {"outcome": "completed", "by": "caller"}),
    )
    abandoned = events(
        "abandoned",
        arrived("+4421"),
        ("call.answered", 0.5, {"flow": "support.yaml"}),
        ("call.queued", 3.0, {"queue": "sales", "priority": 0}),
        ("call.ended", 40.0, {"outcome": "abandoned", "by": "caller"}),
    )
    ivr_only = events(
        "ivr-only",
        arrived("+4422"),
        ("call.answered", 0.5, {"flow": "support.yaml"}),
        ("call.ended", 10.0, {"outcome": "completed", "by": "caller"}),
    )
    writer.write(answered[:4])  # a call in progress: no ticket yet
    outbox = Outbox(db.engine)
    assert outbox.rows(None, 10) == []
    writer.write(answered[4:] + abandoned + ivr_only)
    writer.write(answered + abandoned)  # a replay of the log changes nothing
    late = events("answered", ("call.disposition", 70.0, {"agent": "ann", "disposition": "ok"}))
    writer.write([LoggedEvent(late[0].event, 99)])
    rows = {r.call_id: r for r in outbox.rows(None, 10)}
    assert sorted(rows) == ["abandoned", "answered"]
    ticket = rows["answered"].payload
    assert ticket["subject"] == "Billing call from +4420: billing"
    assert ticket["priority"] == "urgent" and ticket["agent"] == "ann"
    assert ticket["recording_url"] == "https://cc.example.com/api/recordings/answered/audio"
    assert "abandoned" in rows["abandoned"].payload["tags"]
    assert rows["abandoned"].payload["subject"] == "Sales call from +4421"
