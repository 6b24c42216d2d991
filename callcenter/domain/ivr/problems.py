"""Problems found in a flow file, and the error that carries them.

A flow is written by people, so the loader reports every problem it can find
at once, each pointing at a line, instead of stopping at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class FlowProblem:
    """One thing wrong with a flow file, printed as ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class FlowError(Exception):
    """A flow file cannot be served; ``problems`` says every reason found."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))
