"""The actor of audit-log entries outside a plain Django request."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from auditlog.context import auditlog_value, set_actor
from auditlog.registry import auditlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Model

if TYPE_CHECKING:
    from django.contrib.auth.models import User

from .request_context import acting


def attribute_request_changes_to(user: AbstractBaseUser) -> None:
    """Make the request's audit entries name `user`.

    AuditlogMiddleware reads request.user before DRF authenticates API keys, so API requests start
    with no actor; authentication calls this once it knows who is calling.
    """
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    context["actor"] = user


def register(model: type[Model], *, exclude_fields: Iterable[str] = (), mask_fields: Iterable[str] = ()) -> None:
    """`auditlog.register` for the model's own columns only.

    On a create (and a delete) auditlog otherwise walks every relation, reverse ones included: each
    reverse one-to-one is a query (`customer.driver`, `application.driver_loan`) and each reverse
    relation lands in the entry as a "change" (`"notifications": ["None", "...Notification.None"]`).
    An update compares the columns only; now every entry does.
    """
    excluded = set(exclude_fields)
    auditlog.register(
        model,
        include_fields=[field.name for field in model._meta.concrete_fields if field.name not in excluded],
        exclude_fields=sorted(excluded),
        mask_fields=list(mask_fields),
    )


SYSTEM_USERNAME = "system"


def system_user() -> User:
    """The account that audit entries name for scheduled jobs and operator commands."""
    from django.contrib.auth.models import User

    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "System"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@contextmanager
def acting_as_system() -> Iterator[None]:
    """`with acting_as_system():` around the work of a task or command: audit entries and log
    lines name the system user."""
    with set_actor(system_user()), acting(SYSTEM_USERNAME):
        yield


@contextmanager
def audited_as(actor: AbstractBaseUser) -> Iterator[None]:
    """`with audited_as(user):` around a service's writes: their audit entries name `user`. Inside
    a request that already names them (the admin), the request's context stays, with its address."""
    current = _request_context()["actor"]
    if current is not None and current.pk == actor.pk:
        yield
        return
    with set_actor(actor):
        yield


def _request_context() -> dict[str, Any]:
    """Actor, address and correlation id that django-auditlog would give a LogEntry saved now.

    auditlog fills them in a pre_save receiver that exists only inside AuditlogMiddleware or
    `set_actor`; asking that receiver is the only reliable way to read the current context.
    """
    from auditlog.models import LogEntry
    from django.db.models.signals import pre_save

    probe = LogEntry()
    pre_save.send(sender=LogEntry, instance=probe, raw=False, using="default", update_fields=None)
    return {
        "actor": probe.actor,
        "actor_email": probe.actor_email,
        "remote_addr": probe.remote_addr,
        "remote_port": probe.remote_port,
    }


def log_bulk_changes(
    *, model: type[Model], changes: Iterable[tuple[Model, Mapping[str, tuple[object, object]]]]
) -> int:
    """Audit entries for rows changed by a bulk UPDATE, which django-auditlog cannot see.

    `changes` is an iterable of (instance, {field: (old, new)}); the entries look exactly like the
    ones auditlog writes for a save(), with the current actor.
    """
    from auditlog.cid import get_cid
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone
    from django.utils.encoding import smart_str

    from .bulk import insert_rows

    content_type = ContentType.objects.get_for_model(model)
    context = _request_context()
    actor_id = context["actor"].pk if context["actor"] else None
    now = timezone.now()
    cid = get_cid()
    rows = [
        (
            content_type.pk,
            str(instance.pk),
            instance.pk if isinstance(instance.pk, int) else None,
            smart_str(instance),
            LogEntry.Action.UPDATE,
            # str() is what smart_str does for the values models hold (text, numbers, dates, ids).
            {name: [str(old), str(new)] for name, (old, new) in fields.items()},
            "",
            actor_id,
            context["actor_email"],
            context["remote_addr"],
            context["remote_port"],
            cid,
            now,
        )
        for instance, fields in changes
        if fields
    ]
    return insert_rows(
        LogEntry,
        [
            "content_type",
            "object_pk",
            "object_id",
            "object_repr",
            "action",
            "changes",
            "changes_text",
            "actor",
            "actor_email",
            "remote_addr",
            "remote_port",
            "cid",
            "timestamp",
        ],
        rows,
    )
