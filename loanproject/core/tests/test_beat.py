"""The schedules of CELERY_BEAT_SCHEDULE are periodic tasks from the first migrate on (staff see,
pause and edit them in the admin before beat ever ran), and staff's changes outlive every later
migrate and every start of beat."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest
from celery import current_app
from celery.schedules import crontab, schedule
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django.utils.module_loading import import_string
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def declared(entry: dict) -> tuple:
    """What a periodic task must hold for a CELERY_BEAT_SCHEDULE entry."""
    when = entry["schedule"]
    if isinstance(when, crontab):
        fields = (
            when._orig_minute,
            when._orig_hour,
            when._orig_day_of_week,
            when._orig_day_of_month,
            when._orig_month_of_year,
        )
        spec = ("crontab", *map(str, fields), str(when.tz))
    else:
        spec = ("interval", int(schedule(when).run_every.total_seconds()), "seconds")
    return (entry["task"], spec, entry.get("kwargs", {}), entry.get("options", {}).get("expires"))


def stored(task: PeriodicTask) -> tuple:
    if task.crontab_id:
        c = task.crontab
        spec = ("crontab", c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year, str(c.timezone))
    else:
        spec = ("interval", task.interval.every, task.interval.period)
    return (task.task, spec, json.loads(task.kwargs), task.expire_seconds)


def beat_starts():
    """What `celery -A loanproject beat` does first: its scheduler sets up the schedule."""
    return import_string(settings.CELERY_BEAT_SCHEDULER.replace(":", "."))(app=current_app._get_current_object())


EXPECTED = {name: declared(entry) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def periodic_tasks() -> dict[str, tuple]:
    """The declared ones (beat's start adds Celery's own `celery.backend_cleanup` beside them)."""
    tasks = PeriodicTask.objects.filter(name__in=list(EXPECTED)).select_related("crontab", "interval")
    return {task.name: stored(task) for task in tasks}


@pytest.mark.django_db
def test_every_schedule_is_a_periodic_task_in_a_freshly_migrated_database():
    # pytest-django built this database with `migrate`; nothing has run beat.
    assert periodic_tasks() == EXPECTED
    assert PeriodicTask.objects.count() == len(EXPECTED)
    assert EXPECTED["relay-outbox"] == ("core.relay_outbox", ("interval", 5, "seconds"), {}, 30)
    assert EXPECTED["loans-weekly-posting"] == (
        "loans.post_weekly_installments",
        ("crontab", "0", "5", "sun", "*", "*", "America/New_York"),
        {},
        6 * 3600,
    )
    assert EXPECTED["purge-outbox-records"][1] == ("crontab", "15", "3", "*", "*", "*", settings.TIME_ZONE)
    assert set(PeriodicTask.objects.values_list("enabled", flat=True)) == {True}


@pytest.mark.django_db(transaction=True)
def test_migrate_installs_the_schedules_and_keeps_staff_changes_through_migrate_and_beat():
    PeriodicTask.objects.all().delete()  # as in a database nothing has installed them into yet

    call_command("migrate", verbosity=0)

    assert periodic_tasks() == EXPECTED
    # Staff pause one job, move another to :45 of this hour and retune a third's argument in the
    # admin. (This hour: django-celery-beat loads a crontab entry only within two hours of its time.)
    PeriodicTask.objects.filter(name="relay-outbox").update(enabled=False)
    this_hour = str(timezone.localtime(timezone=ZoneInfo(settings.TIME_ZONE)).hour)
    moved, _ = CrontabSchedule.objects.get_or_create(minute="45", hour=this_hour, timezone=settings.TIME_ZONE)
    purge = PeriodicTask.objects.get(name="purge-outbox-records")
    purge.crontab = moved
    purge.save()
    PeriodicTask.objects.filter(name="agents-score-stalled-applications").update(kwargs='{"unchanged_for_minutes": 20}')
    edited = periodic_tasks()

    call_command("migrate", verbosity=0)
    scheduler = beat_starts()

    assert periodic_tasks() == edited
    assert PeriodicTask.objects.get(name="relay-outbox").enabled is False
    assert edited["purge-outbox-records"][1] == ("crontab", "45", this_hour, "*", "*", "*", settings.TIME_ZONE)
    running = scheduler.schedule  # what beat will run: the enabled entries, as staff left them
    assert "relay-outbox" not in running
    assert (
        running["purge-outbox-records"].schedule._orig_hour,
        running["purge-outbox-records"].schedule._orig_minute,
    ) == (this_hour, "45")
    assert running["agents-score-stalled-applications"].kwargs == {"unchanged_for_minutes": 20}


@pytest.mark.django_db(transaction=True)
def test_a_deleted_schedule_comes_back_as_declared_at_the_next_migrate_or_beat_start():
    PeriodicTask.objects.filter(name__in=["relay-outbox", "loans-weekly-posting"]).delete()
    IntervalSchedule.objects.all().delete()

    beat_starts()
    assert PeriodicTask.objects.filter(name="relay-outbox").exists()
    PeriodicTask.objects.filter(name="relay-outbox").delete()
    call_command("migrate", verbosity=0)

    assert periodic_tasks() == EXPECTED
