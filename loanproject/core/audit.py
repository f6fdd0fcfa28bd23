"""The actor of audit-log entries outside a plain Django request."""

from __future__ import annotations

from auditlog.context import auditlog_value


def attribute_request_changes_to(user) -> None:
    """Make the request's audit entries name `user`.

    AuditlogMiddleware reads request.user before DRF authenticates API keys, so API requests start
    with no actor; authentication calls this once it knows who is calling.
    """
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    context["actor"] = user
