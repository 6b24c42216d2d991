"""The small pure pieces: time ranges and ``{var}`` templates."""

from __future__ import annotations

import pytest

from callcenter.domain.ivr.hours import TimeRange, parse_time_range
from callcenter.domain.ivr.templates import TemplateError, render, variables_in


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:00-18:00", TimeRange(480, 1080)),
        ("00:00-24:00", TimeRange(0, 1440)),
        ("23:59-24:00", TimeRange(1439, 1440)),
        ("18:00-08:00", None),  # overnight: write two ranges on two days
        ("09:00-09:00", None),
        ("9:00-10:00", None),
        ("24:00-24:00", None),
        ("10:60-11:00", None),
        ("10:00-24:01", None),
        ("10:00 - 11:00", None),
    ],
)
def test_parse_time_range(text: str, expected: TimeRange | None) -> None:
    assert parse_time_range(text) == expected


def test_render_substitutes_and_unescapes() -> None:
    values = {"name": "Ana", "n": "3"}
    assert render("Hi {name}, {n} calls {{x}} {missing}.", values) == "Hi Ana, 3 calls {x} ."
    assert variables_in("{a}{{b}}{c}") == ["a", "c"]


@pytest.mark.parametrize("text", ["{", "}", "{ name }", "{1x}", "a {b"])
def test_stray_braces_are_rejected(text: str) -> None:
    with pytest.raises(TemplateError):
        variables_in(text)


def test_values_are_not_formatted_again() -> None:
    # A caller-typed value containing braces is inserted literally.
    assert render("{a}", {"a": "{b}"}) == "{b}"
