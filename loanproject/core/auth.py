"""Who is acting, as the services want it: doors narrow `request.user` here, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


def acting_user(request: HttpRequest | Request) -> User:
    """The signed-in user of an admin or API request; the admin and the API's permission classes
    have already refused anonymous callers, so PermissionDenied (a 403 in both doors) is a guard."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
