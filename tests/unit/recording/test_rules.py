"""The pure recording rules: policy, ages, file names, pauses, interleaving."""

from __future__ import annotations

import random
import struct

import pytest

from callcenter.domain.recording import (
    Pauses,
    file_stem,
    interleave,
    parse_age,
    policy_share,
    relative_path,
    should_record,
)


@pytest.mark.parametrize(
    ("policy", "share"),
    [("always", 1.0), ("never", 0.0), ("25%", 0.25), ("100%", 1.0), ("0%", 0.0),
     (" 12.5 % ", 0.125), ("ALWAYS", 1.0)],
)  # fmt: skip
def test_a_policy_is_a_share_of_calls(policy: str, share: float) -> None:
    assert policy_share(policy) == share


@pytest.mark.parametrize("policy", ["sometimes", "25", "150%", "-5%", ""])
def test_a_wrong_policy_says_why(policy: str) -> None:
    with pytest.raises(ValueError, match=r"always, never or a percentage|at most 100%"):
        policy_share(policy)


def test_a_percentage_records_about_that_share_with_a_seeded_choice() -> None:
    rng = random.Random(20261123)
    recorded = sum(should_record("25%", rng.random()) for _ in range(4000))
    assert 900 <= recorded <= 1100
    first, second = random.Random(7), random.Random(7)
    decisions = [should_record("25%", first.random()) for _ in range(50)]
    assert decisions == [should_record("25%", second.random()) for _ in range(50)]
    assert True in decisions and False in decisions


def test_always_and_never_ignore_the_draw() -> None:
    assert all(should_record("always", d) for d in (0.0, 0.5, 0.999))
    assert not any(should_record("never", d) for d in (0.0, 0.5, 0.999))
    assert should_record("25%", 0.2499) and not should_record("25%", 0.25)


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800),
                                               ("1.5d", 129600)])  # fmt: skip
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["90", "d", "3w", "-1d", "90 days"])
def test_a_wrong_age_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)


def test_a_call_id_cannot_escape_its_day_directory() -> None:
    assert file_stem("abc@10.0.0.1") == "abc_10.0.0.1"
    assert file_stem("../../etc/passwd") == ".._.._etc_passwd"
    assert file_stem("..") == "_"
    # 2026-11-23 23:59:59 UTC
    assert relative_path("a/b", 1795478399.0) == "2026/11/23/a_b.wav"


def test_interleave_puts_left_then_right_and_pads_the_shorter_track() -> None:
    left = struct.pack("<3h", 1, 2, 3)
    right = struct.pack("<2h", -1, -2)
    assert struct.unpack("<6h", interleave(left, right)) == (1, -1, 2, -2, 3, 0)


def test_pauses_keep_who_and_how_long() -> None:
    pauses = Pauses()
    assert pauses.pause("ann", 10.0)
    assert not pauses.pause("supervisor", 11.0)  # already paused
    assert pauses.paused
    assert pauses.resume(12.5)
    assert not pauses.resume(13.0)
    assert pauses.pause("supervisor", 20.0)  # still open when the call ends at 21
    assert [p.as_dict(21.0) for p in pauses.items] == [
        {"by": "ann", "at": 10.0, "resumed_at": 12.5, "seconds": 2.5},
        {"by": "supervisor", "at": 20.0, "resumed_at": 21.0, "seconds": 1.0},
    ]
