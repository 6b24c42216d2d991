"""Decoding an event log entry: every consumer accepts and refuses the same entries."""

from __future__ import annotations

import pytest

from callcenter.domain.events import LogEntry, entry_from_fields


def test_an_entry_decodes_with_its_data() -> None:
    fields = {
        "id": "e1",
        "type": "call.queued",
        "call_id": "c1",
        "at": "1795461611.5",
        "data": '{"queue":"billing","priority":2}',
    }
    assert entry_from_fields(fields, "1-0") == LogEntry(
        "e1", "call.queued", "c1", 1795461611.5, {"queue": "billing", "priority": 2}
    )


def test_an_entry_without_id_takes_the_fallback_and_without_data_is_empty() -> None:
    entry = entry_from_fields({"type": "agent.state", "at": "1"}, "1700-3")
    assert (entry.id, entry.call_id, entry.data) == ("1700-3", "", {})


def test_data_that_is_not_an_object_is_dropped() -> None:
    assert entry_from_fields({"type": "t", "at": "1", "data": "[1, 2]"}).data == {}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"at": "1"}, "without 'type'"),
        ({"type": "t"}, "without 'at'"),
        ({"type": "t", "at": "soon"}, "could not convert"),
        ({"type": "t", "at": "1", "data": "{broken"}, "Expecting property name"),
        ({"type": "t", "at": None}, "malformed"),
    ],
)
def test_a_malformed_entry_is_refused_saying_why(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        entry_from_fields(fields)
