"""FlowLibrary: flows by DID, reload that keeps the last good flow."""

from __future__ import annotations

from pathlib import Path

from callcenter.domain.ivr import FlowLibrary
from tests.unit.ivr.flowkit import write_flow

GOOD = "version: 1\nstart: end\nnodes:\n  end: {type: hangup, reason: %s}\n"
BROKEN = "version: 1\nstart: end\nnodes:\n  end: {type: hangup, reason: [x]}\n"


def _reason(library: FlowLibrary, did: str) -> str | None:
    flow = library.flow_for(did)
    return None if flow is None else getattr(flow.nodes["end"], "reason", None)


def test_flows_by_did_and_unknown_did(tmp_path: Path) -> None:
    sales = write_flow(tmp_path, GOOD % "sales", "sales.yaml")
    support = write_flow(tmp_path, GOOD % "support", "support.yaml")
    library = FlowLibrary({"+441": sales, "+442": str(support), "+443": support})
    assert library.problems == []
    assert _reason(library, "+441") == "sales"
    assert _reason(library, "+442") == "support"
    assert library.flow_for("+442") is library.flow_for("+443")  # one file, read once
    assert library.flow_for("+449") is None


def test_reload_picks_up_changes(tmp_path: Path) -> None:
    path = write_flow(tmp_path, GOOD % "before")
    library = FlowLibrary({"+441": path})
    write_flow(tmp_path, GOOD % "after")
    assert library.reload() == []
    assert _reason(library, "+441") == "after"


def test_reload_keeps_last_good_flow_and_says_why(tmp_path: Path) -> None:
    path = write_flow(tmp_path, GOOD % "good")
    library = FlowLibrary({"+441": path})
    write_flow(tmp_path, BROKEN)
    problems = library.reload()
    assert [str(p) for p in problems] == [f"{path}:4: node 'end': 'reason' must be a string"]
    assert library.problems == problems
    assert _reason(library, "+441") == "good"
    path.unlink()
    assert [str(p) for p in library.reload()] == [
        f"{path}:1: cannot read flow file: No such file or directory"
    ]
    assert _reason(library, "+441") == "good"


def test_flow_that_never_loaded_is_not_served_until_fixed(tmp_path: Path) -> None:
    path = write_flow(tmp_path, BROKEN)
    library = FlowLibrary({"+441": path})
    assert [p.line for p in library.problems] == [4]
    assert library.flow_for("+441") is None
    write_flow(tmp_path, GOOD % "fixed")
    assert library.reload() == []
    assert _reason(library, "+441") == "fixed"
