"""Errors of the supervisor endpoints, each a stable ``error_id`` slug with its HTTP status."""

from __future__ import annotations

from callcenter.domain.routing.edits import EditError
from callcenter.web.errors import ApiError


class CallNotWaitingError(ApiError):
    """The call exists but is not waiting in a queue: ``error_id`` says where it is instead
    (``call-ringing``, ``call-connected``, ``call-ended``, ``call-not-queued``)."""

    status = 409
    error_id = "call-not-waiting"

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


class InvalidRequestError(ApiError):
    """A request the domain refused (:class:`EditError`), with its slug and status."""

    def __init__(self, refused: EditError) -> None:
        super().__init__(refused.message)
        self.error_id = refused.error_id
        self.status = refused.status
