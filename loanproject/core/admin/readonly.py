"""Mixins for admin screens of records that staff read but do not edit."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For a model admin or an inline: nothing is added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0


class ActionsOnlyAdminMixin:
    """The change permission unlocks the list's actions; each record's page stays read-only."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request)
