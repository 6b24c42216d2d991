"""The slice of ``IReactorTime`` the front uses, as a structural type.

Twisted's zope interfaces do not type-check as protocols under ``mypy --strict``; this
Protocol does, and both the real reactor and ``twisted.internet.task.Clock`` satisfy it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Cancellable(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def seconds(self) -> float: ...

    def callLater(  # noqa: N802 (Twisted's name)
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> Any: ...
