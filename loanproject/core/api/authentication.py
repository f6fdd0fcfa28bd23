"""Authentication of back-office staff on the API (session or token; partners use API keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import BasePermission

from ..audit import attribute_request_changes_to

if TYPE_CHECKING:  # rest_framework.views imports this module (DEFAULT_AUTHENTICATION_CLASSES)
    from rest_framework.request import Request
    from rest_framework.views import APIView


class StaffTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` (manage.py drf_create_token <username>); audit names the user."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        attribute_request_changes_to(user)
        return user, token


class _StaffView(Protocol):
    required_permissions: Mapping[str, str]


class HasStaffPermission(BasePermission):
    """An active staff member holding the permission the view names for the action.

    Views set `required_permissions = {action: "app_label.codename"}`; an action not listed is
    refused. Partner service accounts are never staff, so partner keys never pass.
    """

    message = "You need a staff account with the right permission."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        required = cast(_StaffView, view).required_permissions.get(
            getattr(view, "action", None) or (request.method or "").lower()
        )
        if not required:
            return False
        return user.has_perm(required)
