from __future__ import annotations

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest

from loanproject.core.errors import DomainError


class ReadOnlyAdminMixin:
    """Rows written only by services in bulk (imports, snapshots): staff read them."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def run_for_each(model_admin, request: HttpRequest, queryset: QuerySet, service, *, done: str) -> None:
    """Call `service(pk)` for each selected row in pk order; report successes and refusals."""
    count, refused = 0, []
    for pk in queryset.order_by("pk").values_list("pk", flat=True):
        try:
            service(pk)
            count += 1
        except DomainError as exc:
            refused.append(f"#{pk}: {exc.message}")
    if count:
        model_admin.message_user(request, done.format(count=count), messages.SUCCESS)
    for message in refused:
        model_admin.message_user(request, message, messages.WARNING)
