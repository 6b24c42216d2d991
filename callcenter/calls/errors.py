"""Errors of the call endpoints, shared by every feature that addresses a call by its id
(calls, routing explain, supervisor moves, monitoring): one unknown id, one answer."""

from __future__ import annotations

from callcenter.web.errors import NotFoundError


class CallNotFoundError(NotFoundError):
    error_id = "call-not-found"

    def __init__(self, call_id: str, why: str = "") -> None:
        super().__init__(f"no call with id {call_id!r}" + (f" ({why})" if why else ""))
