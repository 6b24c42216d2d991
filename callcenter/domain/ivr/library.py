"""The flows a running service serves, by dialled number, with safe reload.

A reload must never take a line down: a file that no longer validates keeps
its last good flow in service and its problems are returned, so an operator
sees why the change did not take. A file that never validated is not served.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from callcenter.domain.ivr.flow import Flow
from callcenter.domain.ivr.loader import StrPath, read_flow
from callcenter.domain.ivr.problems import FlowProblem


class FlowLibrary:
    """Flows by DID. Several DIDs may share a file; each file is read once per load."""

    def __init__(self, flows_by_did: Mapping[str, StrPath]) -> None:
        self._paths = {did: Path(path) for did, path in flows_by_did.items()}
        self._flows: dict[Path, Flow] = {}
        self.problems: list[FlowProblem] = []
        """Problems found by the last load or reload."""
        self.reload()

    def flow_for(self, did: str) -> Flow | None:
        """The flow to run for a call to ``did``, or ``None`` if there is none to serve."""
        path = self._paths.get(did)
        return None if path is None else self._flows.get(path)

    def reload(self) -> list[FlowProblem]:
        """Re-read every file; keep the last good flow of any file that now fails."""
        problems: list[FlowProblem] = []
        for path in dict.fromkeys(self._paths.values()):
            flow, found = read_flow(path)
            problems.extend(found)
            if flow is not None:
                self._flows[path] = flow
        self.problems = problems
        return problems

    def served(self) -> list[Flow]:
        """Every flow in service now (one per file), e.g. to render their prompts ahead."""
        return list(self._flows.values())
