"""Domain errors raised by services. Each door presents them its own way: the API maps
`http_status` and `code` to its error format, the admin shows `message` with message_user, and
commands print it and exit non-zero."""

from __future__ import annotations


class DomainError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(DomainError):
    http_status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    http_status = 403
    code = "permission_denied"


class Conflict(DomainError):
    http_status = 409
    code = "conflict"


class StaleVersion(Conflict):
    """Someone changed the record after the caller read it (optimistic locking)."""

    code = "stale_version"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IdempotencyKeyReused(Conflict):
    """The same Idempotency-Key came back with a different request body."""

    code = "idempotency_key_reused"
