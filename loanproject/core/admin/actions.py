"""The admin action that calls a service once per selected row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from loanproject.core.errors import DomainError


def run_for_each(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    service: Callable[..., object],
    *,
    done: str,
    fields: tuple[str, ...] = ("pk",),
    label: Callable[..., str] = "#{}".format,
    refusals: tuple[type[Exception], ...] = (DomainError,),
) -> None:
    """Call `service(*row)` for each selected row's `fields`, in pk order; message how many were
    done (`done` with {count}) and, naming each by `label(*row)`, why the others were refused."""
    count, refused = 0, []
    for row in queryset.order_by("pk").values_list(*fields):
        try:
            service(*row)
            count += 1
        except refusals as exc:
            refused.append(f"{label(*row)}: {getattr(exc, 'message', exc)}")
    if count:
        model_admin.message_user(request, done.replace("{count}", str(count)), messages.SUCCESS)
    for message in refused:
        model_admin.message_user(request, message, messages.WARNING)


# The message of an action whose service asks for a maker-checker request (core.approvals).
APPROVAL_ASKED = (
    "Asked for {what}: done at once below the action's threshold, else waiting in Approval requests for a "
    "second person."
)
