"""The one exception tree of aisc, mapped once to an HTTP status and a CLI exit code.

Services raise these; the API turns them into a JSON body with ``status_code`` and the CLI
prints the message to stderr and exits with ``exit_code``. Nothing matches on message text:
callers match on the class or on ``code``.
"""

from __future__ import annotations

from typing import Any


class AiscError(Exception):
    """Base of every error a user can cause or see."""

    status_code: int = 400
    exit_code: int = 1
    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(AiscError):
    """Input is malformed or breaks a rule about a single field."""

    status_code = 422
    exit_code = 2
    code = "invalid"


class NotFound(AiscError):
    """The object does not exist (or the caller may not know that it does)."""

    status_code = 404
    exit_code = 3
    code = "not_found"


class Conflict(AiscError):
    """The request is well-formed but conflicts with the current state."""

    status_code = 409
    exit_code = 4
    code = "conflict"


class InvalidTransition(Conflict):
    """A state machine refused the transition."""

    code = "invalid_transition"


class InsufficientFunds(Conflict):
    """The fund (or an award's commitment) cannot cover the amount."""

    code = "insufficient_funds"


class NotReady(AiscError):
    """The deployment is not ready (e.g. its database schema is missing or out of date)."""

    status_code = 503
    exit_code = 6
    code = "not_ready"


class CapacityShortfall(Conflict):
    """The centre's GPUs cannot carry the commitment in some months."""

    code = "capacity_shortfall"


class Unauthenticated(AiscError):
    """No valid credentials (the message never says which part was wrong)."""

    status_code = 401
    exit_code = 7
    code = "unauthenticated"


class Forbidden(AiscError):
    """The actor may not do this."""

    status_code = 403
    exit_code = 5
    code = "forbidden"


class RateLimited(AiscError):
    """Too many requests from this client for now (429, with ``Retry-After``)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
