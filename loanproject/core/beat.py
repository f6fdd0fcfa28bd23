"""The beat schedule in the database from the first `migrate` on, and staff's changes kept.

CELERY_BEAT_SCHEDULE declares the periodic jobs in code; beat runs them from django-celery-beat's
PeriodicTask table, which staff see, pause and edit in the admin ("Periodic tasks").
django-celery-beat's own scheduler copies the declared entries into that table only when beat
starts (so the admin list is empty until then), and at every start it writes the declared
schedule, arguments and options over whatever staff changed (all but the pause).

Here the same step runs after every `migrate` (post_migrate) and when beat starts
(`DatabaseScheduler`, the CELERY_BEAT_SCHEDULER):
- a declared entry with no periodic task of its name is created as declared;
- an existing one is staff's and is left as it is: paused stays paused, an edited time, argument
  or expiry stays. Staff win over code; to take the declared version again (after a release
  changed it), delete the entry in the admin: the next migrate or beat start creates it anew.

An entry's `options={"expires": seconds}` is stored as the task's `expire_seconds`, which is how
django-celery-beat applies it (its own scheduler drops the `expires` option).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q
from django_celery_beat import schedulers
from django_celery_beat.models import PeriodicTask

DECLARED = (
    "Declared in CELERY_BEAT_SCHEDULE. Changes made here are kept; delete the entry to get the declared one back."
)


def _as_database_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(entry)
    options = dict(fields.get("options") or {})
    if isinstance(options.get("expires"), int | float) and "expire_seconds" not in options:
        options["expire_seconds"] = int(options.pop("expires"))
    fields["options"] = options
    return fields


def install_beat_schedule(
    *, schedule: Mapping[str, Mapping[str, Any]] | None = None, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Create the periodic task of every declared entry that has none; returns the names created."""
    schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
    existing = set(PeriodicTask.objects.using(using).filter(name__in=list(schedule)).values_list("name", flat=True))
    created = []
    with transaction.atomic(using=using):
        for name, entry in schedule.items():
            if name in existing:
                continue
            # The way DatabaseScheduler turns an entry into a row (schedule rows get_or_created).
            fields = schedulers.ModelEntry._unpack_fields(**_as_database_entry(entry))
            _, was_created = PeriodicTask.objects.using(using).get_or_create(
                name=name, defaults={**fields, "description": DECLARED}
            )
            if was_created:
                created.append(name)
    return created


def install_beat_schedule_after_migrate(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """After migrate (core.apps.after_migrate): django-celery-beat's tables exist by then, unless
    only some apps were migrated."""
    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return
    install_beat_schedule(using=using)


class DatabaseScheduler(schedulers.DatabaseScheduler):  # type: ignore[misc]  # django-celery-beat ships no types
    """django-celery-beat's scheduler, except that starting beat only adds the declared entries
    that are missing and never overwrites staff's changes (see the module docstring), and that it
    considers every enabled crontab entry, not only those within two hours of now."""

    def setup_schedule(self) -> None:
        install_beat_schedule(schedule=self.app.conf.beat_schedule)
        self.install_default_entries(self.schedule)

    def _get_crontab_exclude_query(self) -> Q:
        # Upstream skips crontab entries more than two hours from now, a saving for thousands of
        # entries. With a handful it only delays catching up: beat back after missing Sunday 05:00
        # would leave the weekly posting overdue until the next 03:00-07:00 window.
        return Q(pk__in=[])
