"""The actor of audit-log entries outside a plain Django request."""

from __future__ import annotations

from auditlog.context import auditlog_value, set_actor


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


SYSTEM_USERNAME = "system"


def system_user():
    """The account that audit entries name for scheduled jobs and operator commands."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "System"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def acting_as_system():
    """`with acting_as_system():` around the work of a task or command."""
    return set_actor(system_user())
