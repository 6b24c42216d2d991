"""Supervisors' runtime edits: parsing with precise errors, merge rules, precedence, clean-up."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.domain.routing import Agent
from callcenter.domain.routing.edits import (
    AgentEdits,
    EditError,
    Vocabulary,
    parse_edit,
    parse_priority,
    parse_queue,
    still_valid,
)

KNOWN = Vocabulary(frozenset({"billing", "tech", "french"}), frozenset({"billing", "sales"}))
CONFIGURED = Agent("ann", "Ann", "ann", {"billing": 5, "tech": 2}, ("billing",))


NO_EDITS = AgentEdits()


def edited(body: dict[str, Any], edits: AgentEdits = NO_EDITS) -> AgentEdits:
    current = edits.applied_to(CONFIGURED)
    return parse_edit(body, KNOWN).applied(edits, current)


def test_a_skills_patch_sets_and_removes_levels_and_keeps_the_rest() -> None:
    edits = edited({"skills": {"billing": 7, "tech": None, "french": 3}})
    assert dict(edits.skills or {}) == {"billing": 7, "french": 3}
    assert edits.queues is None  # not mentioned: still as configured
    agent = edits.applied_to(CONFIGURED)
    assert dict(agent.skills) == {"billing": 7, "french": 3}
    assert agent.queues == ("billing",)
    assert edits.fields() == ["skills"]


def test_a_second_patch_builds_on_the_first() -> None:
    first = edited({"skills": {"french": 3}})
    second = edited({"skills": {"billing": 9}}, first)
    assert dict(second.skills or {}) == {"billing": 9, "tech": 2, "french": 3}


def test_queues_replace_the_list_and_null_goes_back_to_the_configuration() -> None:
    edits = edited({"queues": ["sales", "billing"], "skills": {"tech": 4}})
    assert edits.queues == ("sales", "billing")
    back = edited({"queues": None}, edits)
    assert back.queues is None and back.skills is not None
    assert back.applied_to(CONFIGURED).queues == ("billing",)
    assert edited({"skills": None}, back).empty
    assert edited({"queues": []}).applied_to(CONFIGURED).queues == ()


def test_an_edit_wins_over_whatever_the_configuration_says_later() -> None:
    edits = edited({"skills": {"billing": 8}})
    changed_config = Agent("ann", "Ann", "ann", {"billing": 1, "tech": 9}, ("sales",))
    agent = edits.applied_to(changed_config)
    assert dict(agent.skills) == {"billing": 8, "tech": 2}  # the edited field as a whole
    assert agent.queues == ("sales",)  # fields not edited follow the configuration


@pytest.mark.parametrize(
    ("body", "error_id", "status", "words"),
    [
        ({}, "nothing-to-change", 400, "skills"),
        ({"name": "x"}, "unknown-field", 400, "'name'"),
        ({"skills": [1]}, "invalid-skills", 400, "object"),
        ({"skills": {"billing": 11}}, "invalid-skill-level", 400, "1-10"),
        ({"skills": {"billing": 0}}, "invalid-skill-level", 400, "null removes"),
        ({"skills": {"billing": True}}, "invalid-skill-level", 400, "whole number"),
        ({"skills": {"billing": 2.5}}, "invalid-skill-level", 400, "2.5"),
        ({"skills": {"knitting": 3}}, "unknown-skill", 422, "'knitting'"),
        ({"queues": "sales"}, "invalid-queues", 400, "list"),
        ({"queues": ["sales", "sales"]}, "invalid-queues", 400, "twice"),
        ({"queues": ["support"]}, "unknown-queue", 422, "'support'"),
    ],
)
def test_bad_edits_say_what_is_wrong(
    body: dict[str, Any], error_id: str, status: int, words: str
) -> None:
    with pytest.raises(EditError) as refused:
        parse_edit(body, KNOWN)
    assert (refused.value.error_id, refused.value.status) == (error_id, status)
    assert words in refused.value.message


def test_priorities_are_whole_numbers_0_to_999() -> None:
    assert parse_priority({"priority": 0}) == 0
    assert parse_priority({"priority": 999}) == 999
    for bad in (-1, 1000, "5", 2.0, True, None):
        with pytest.raises(EditError, match="priority") as refused:
            parse_priority({"priority": bad})
        assert refused.value.status == 400
    with pytest.raises(EditError, match="nothing else"):
        parse_priority({"priority": 1, "queue": "sales"})


def test_a_move_names_a_configured_queue() -> None:
    assert parse_queue({"queue": "sales"}, KNOWN) == "sales"
    with pytest.raises(EditError) as refused:
        parse_queue({"queue": "nowhere"}, KNOWN)
    assert (refused.value.error_id, refused.value.status) == ("unknown-queue", 422)
    for bad in ({"queue": ""}, {"queue": 3}, {}):
        with pytest.raises(EditError) as refused:
            parse_queue(bad, KNOWN)
        assert refused.value.status == 400


def test_kept_edits_lose_names_the_configuration_no_longer_has() -> None:
    kept = AgentEdits({"billing": 7, "knitting": 3}, ("sales", "gone"))
    valid, dropped = still_valid(kept, KNOWN)
    assert valid == AgentEdits({"billing": 7}, ("sales",))
    assert dropped == [
        "skill(s) knitting no longer configured",
        "queue(s) gone no longer configured",
    ]
    assert still_valid(AgentEdits(), KNOWN) == (AgentEdits(), [])
