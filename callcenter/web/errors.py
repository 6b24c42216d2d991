"""API errors: each has a stable ``error_id`` slug, an HTTP status and a human message.

Clients branch on ``error_id``; people read ``message``. Raising one of these anywhere in an
endpoint produces ``{"error_id", "message", "status"}`` with that status.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    error_id = "bad-request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ApiError):
    status = 400
    error_id = "bad-request"


class UnauthorizedError(ApiError):
    status = 401
    error_id = "unauthorized"


class ForbiddenError(ApiError):
    status = 403
    error_id = "forbidden"


class NotFoundError(ApiError):
    status = 404
    error_id = "not-found"


class MethodNotAllowedError(ApiError):
    status = 405
    error_id = "method-not-allowed"


class ServiceUnavailableError(ApiError):
    status = 503
    error_id = "service-unavailable"
