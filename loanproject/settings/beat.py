"""The periodic jobs, declared in code; each entry says when it runs (base.CELERY_BEAT_SCHEDULE)."""

from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django_celery_beat.tzcrontab import TzAwareCrontab


def _job(task: str, schedule, *, expires: int, **extra) -> dict:
    return {"task": task, "schedule": schedule, **extra, "options": {"expires": expires}}


def beat_schedule(*, loans_time_zone: str) -> dict:
    return {
        # Every 5 seconds: publish outbox events whose on-commit kick was lost (broker down, crash).
        "relay-outbox": _job("core.relay_outbox", 5.0, expires=30),
        # Every 2 minutes: publish again the outbox events a subscriber has not processed
        # OUTBOX_REDELIVER_AFTER_SECONDS after their publication (messages lost with the broker).
        "redeliver-outbox-events": _job("core.redeliver_outbox_events", crontab(minute="*/2"), expires=100),
        # Every minute: compute the dashboard's figures, so that no page waits for its aggregates.
        "refresh-dashboard": _job("dashboard.refresh_figures", crontab(minute="*"), expires=50),
        # Every minute: retry customer notifications whose backoff has passed.
        "deliver-due-notifications": _job("applications.deliver_due_notifications", crontab(minute="*"), expires=50),
        # Every 5 minutes: give manual reviews that found every officer full to officers with room
        # (a decision frees a place at once; raised capacities, new officers and withdrawals do not).
        "assign-waiting-applications": _job(
            "applications.assign_waiting_applications", crontab(minute="*/5"), expires=240
        ),
        # Every 5 minutes: score applications left waiting for scoring for 10 minutes or more (a
        # consumer that gave up, no active policy at the time, a lost re-score task).
        "agents-score-stalled-applications": _job(
            "agents.score_stalled_applications",
            crontab(minute="*/5"),
            kwargs={"unchanged_for_minutes": 10},
            expires=240,
        ),
        # Every night at 01:30 (TIME_ZONE): the day's net-worth snapshot of every customer with an
        # open account (idempotent; `manage.py snapshot_net_worth` runs the same job by hand).
        "finance-net-worth-snapshots": _job(
            "finance.take_net_worth_snapshots", crontab(hour=1, minute=30), expires=6 * 3600
        ),
        # Every minute: send again the report exports whose message or worker was lost (no progress
        # for EXPORT_STALLED_AFTER_SECONDS); fail those that lost EXPORT_MAX_ATTEMPTS builds.
        "core-recover-stalled-exports": _job("core.recover_stalled_exports", crontab(minute="*"), expires=50),
        # Every night at 03:15 (TIME_ZONE): delete published outbox events and consumer receipts older
        # than OUTBOX_RETENTION_DAYS and idempotency keys older than IDEMPOTENCY_KEY_RETENTION_DAYS.
        "purge-outbox-records": _job("core.purge_outbox_records", crontab(hour=3, minute=15), expires=6 * 3600),
        # Every 5 minutes: finish posting runs that made no progress for LOANS_POSTING_STALLED_AFTER_SECONDS
        # (a killed worker, a flushed broker, a dropped connection): their chunks that nobody works on
        # are posted by the sweep itself, exactly once, at most 100 chunks a tick.
        "loans-recover-stalled-posting-runs": _job(
            "loans.recover_stalled_posting_runs", crontab(minute="*/5"), expires=240
        ),
        # Every night at 01:30 New York time: each loan's days past due and delinquency class (the
        # history records each change); payments and reversals also classify their driver's loans.
        "loans-classify-delinquency": _job(
            "loans.classify_delinquency",
            TzAwareCrontab(minute=30, hour=1, tz=ZoneInfo(loans_time_zone)),
            expires=6 * 3600,
        ),
        # Every night at 01:45 New York time, after the delinquency job: charge the late fee of each
        # posted installment still unpaid past its loan's grace days (once per installment).
        "loans-charge-late-fees": _job(
            "loans.charge_late_fees", TzAwareCrontab(minute=45, hour=1, tz=ZoneInfo(loans_time_zone)), expires=6 * 3600
        ),
        # Every night at 02:30 New York time, after the classification: the collections queue (each
        # delinquent driver's days and overdue amount) and promises to pay (a promise unpaid on its
        # day is flagged broken the day after).
        "loans-update-collections": _job(
            "loans.update_collections",
            TzAwareCrontab(minute=30, hour=2, tz=ZoneInfo(loans_time_zone)),
            expires=6 * 3600,
        ),
        # Sundays at 05:00 New York time (LOANS_TIME_ZONE): post the week's due installments; one
        # task per chunk fans out to the workers.
        "loans-weekly-posting": _job(
            "loans.post_weekly_installments",
            TzAwareCrontab(minute=0, hour=5, day_of_week="sun", tz=ZoneInfo(loans_time_zone)),
            expires=6 * 3600,
        ),
    }
