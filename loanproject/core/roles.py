"""Staff roles as Django groups, kept equal to settings.STAFF_ROLES."""

from __future__ import annotations

import fnmatch
import logging

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction

logger = logging.getLogger(__name__)


def _matching_permissions(patterns: list[str], available: list[Permission]) -> set[Permission]:
    matched: set[Permission] = set()
    for pattern in patterns:
        app_pattern, _, code_pattern = pattern.partition(".")
        found = {
            perm
            for perm in available
            if fnmatch.fnmatchcase(perm.content_type.app_label, app_pattern)
            and fnmatch.fnmatchcase(perm.codename, code_pattern)
        }
        if not found:
            logger.warning("role permission %r matches no permission (yet)", pattern)
        matched |= found
    return matched


@transaction.atomic
def sync_staff_roles(*, roles: dict[str, list[str]] | None = None) -> dict[str, int]:
    """Create or update one group per role with exactly its permissions; returns counts."""
    roles = settings.STAFF_ROLES if roles is None else roles
    available = list(Permission.objects.select_related("content_type"))
    counts: dict[str, int] = {}
    for name, patterns in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = _matching_permissions(patterns, available)
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts


def sync_roles_after_migrate(*, using: str = "default") -> None:
    """After migrate (core.apps.after_migrate), when every permission exists."""
    if using != "default":
        return
    sync_staff_roles()
