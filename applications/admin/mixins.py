"""Admin behaviour shared by the screens of the applications app."""

from __future__ import annotations

from django.http import HttpRequest


class NoDeleteAdminMixin:
    """Business records are never deleted from the admin: a delete would skip the services (no
    domain checks, no outbox event) and erase what the audit log refers to. Without the delete
    permission Django also drops the "Delete selected" action and refuses the delete page.
    Deactivate, withdraw or revoke instead."""

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
