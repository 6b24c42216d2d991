"""Notices between controllers: parsed strictly, and a bad one never ends the listener."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, cast

from callcenter.routing.handoff import CallNotice, OfferHandoff
from callcenter.store.routing.views import Match


def handoff(on_notice: Any) -> tuple[OfferHandoff, list[Match]]:
    offers: list[Match] = []
    return OfferHandoff(cast(Any, None), "me", offers.append, on_notice), offers


def test_notices_and_offers_reach_their_handlers() -> None:
    notices: list[CallNotice] = []
    h, offers = handoff(notices.append)
    moved = CallNotice("moved", "c1", "billing", "sales", by="Sue")
    h._received(json.dumps({"notice": asdict(moved)}))
    h._received(json.dumps({"agent": "ann", "call": "c2", "queue": "billing"}))
    assert notices == [moved]
    assert offers == [Match("ann", "c2", "billing")]


def test_bad_notices_are_dropped() -> None:
    notices: list[CallNotice] = []
    h, offers = handoff(notices.append)
    for body in (
        {"notice": {"kind": "explode", "call": "c1"}},
        {"notice": {"kind": "priority", "call": "c1", "before": "0", "after": "high"}},
        {"notice": {"kind": "moved", "call": "c1", "colour": "red"}},
        {"notice": "moved"},
    ):
        h._received(json.dumps(body))
    h._received("not json")
    assert notices == [] and offers == []


def test_a_failing_notice_handler_does_not_escape() -> None:
    def broken(_: CallNotice) -> None:
        raise RuntimeError("boom")

    h, _ = handoff(broken)
    h._received(json.dumps({"notice": asdict(CallNotice("withdrawn", "c1", agent="ann"))}))
