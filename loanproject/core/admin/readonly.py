"""Mixins for admin screens of records that staff read but do not edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class ReadOnlyAdminMixin:
    """For a model admin or an inline: nothing is added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0
    template: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A tabular inline's rows without their title line, which repeated the row's own cells; a
        # stacked inline, or one that names its own template, is left as it is.
        if self.template == admin.TabularInline.template:
            self.template = "admin/edit_inline/tabular_readonly.html"


class NoDeleteAdminMixin:
    """Business records are never deleted from the admin: a delete would skip the services (no
    domain checks, no outbox event) and erase what the audit log refers to. Without the delete
    permission Django also drops the "Delete selected" action and refuses the delete page.
    Deactivate, withdraw or revoke instead."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ActionsOnlyAdminMixin(_ModelAdmin):
    """The change permission unlocks the list's actions; each record's page stays read-only."""

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return obj is None and super().has_change_permission(request)
