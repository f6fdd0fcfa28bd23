"""`manage.py post_installments`: in-process for the output, as real processes for the races."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from freezegun import freeze_time

from conftest import current_database_url, wait_until
from ledger import services as ledger_services
from ledger.models import JournalEntry
from loans import selectors
from loans.models import Installment, InstallmentPostingRun, InstallmentStatus

from .factories import SUNDAY, StaffUserFactory, make_loan
from .test_posting_races import assert_each_installment_posted_once

ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("post_installments", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_posts_the_week_of_any_given_day_and_reports_json():
    loan = make_loan(principal="400.00", weeks=4)

    with freeze_time("2026-01-08 12:00"):  # the current week: a past one needs a second person
        out, _ = run("--week", "2026-01-07", "--json")  # a Wednesday: the week of Sunday 4 January

    result = json.loads(out)
    assert {
        key: result[key]
        for key in ("period_start", "period_end", "processed", "posted", "skipped", "failed", "total_amount", "success")
    } == {
        "period_start": "2026-01-04",
        "period_end": "2026-01-10",
        "processed": 1,
        "posted": 1,
        "skipped": 0,
        "failed": 0,
        "total_amount": "100.00",
        "success": True,
    }
    assert loan.installments.get(sequence=1).status == InstallmentStatus.POSTED
    run_record = InstallmentPostingRun.objects.get()
    assert run_record.started_by.username == "system"


@pytest.mark.django_db
def test_the_default_week_is_this_week_in_new_york():
    make_loan(principal="400.00", weeks=4)

    with freeze_time("2026-01-11 04:30:00"):  # 23:30 on Saturday 10 January in New York
        out, _ = run("--json")

    assert json.loads(out)["period_start"] == "2026-01-04"


@pytest.mark.django_db
def test_a_dry_run_counts_and_writes_nothing():
    make_loan(principal="400.00", weeks=4)

    out, _ = run("--week", "2026-01-11", "--dry-run")

    assert out.strip() == "Week 2026-01-11 to 2026-01-17: would post 2 installment(s), total 200.00"
    assert (JournalEntry.objects.filter(source="loans.installment").count(), InstallmentPostingRun.objects.count()) == (
        0,
        0,
    )


@pytest.mark.django_db
def test_failures_are_listed_and_the_command_exits_non_zero():
    bad = make_loan(principal="400.00", weeks=4)
    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=False)

    with freeze_time("2026-01-05 12:00"), pytest.raises(CommandError, match="1 installment\\(s\\) could not be posted"):
        run("--week", "2026-01-04")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["--week", "soon"], "must be a date"),
        (["--chunk-size", "0"], "at least 1"),
        (["--week", "0001-01-01"], "--week: Enter a date between 1970-01-01 and 2200-12-31, got 0001-01-01."),
        (
            ["--week", "9999-12-31", "--dry-run"],
            "--week: Enter a date between 1970-01-01 and 2200-12-31, got 9999-12-31.",
        ),
    ],
)
def test_bad_arguments_are_command_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)

    assert InstallmentPostingRun.objects.count() == 0


# --- Real processes --------------------------------------------------------------------------------


def start_command(*args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loanproject.settings.development",
        "DATABASE_URL": current_database_url(),
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "post_installments", "--json", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def posted_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM loans_installment WHERE status = 'posted'")
        return cursor.fetchone()[0]


def many_loans(count: int) -> None:
    from loans.accounts import interest_income_account

    interest_income_account()  # opened by the first posting ever: two first postings would queue on it
    officer = StaffUserFactory()
    for _ in range(count):
        make_loan(principal="1200.00", weeks=3, rate="10", created_by=officer)


def backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_processes_at_once_post_each_installment_once():
    """Both processes are held at the start line (recording their run waits on a table lock), so
    they post at the same time; chunks of 7 make them leapfrog each other's locked chunks."""
    many_loans(40)  # 120 due installments

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE loans_installmentpostingrun IN EXCLUSIVE MODE")
        processes = [start_command("--chunk-size", "7") for _ in range(2)]
        wait_until(lambda: backends_waiting_on_a_lock() == 2, timeout=60)
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    results = [json.loads(out) for out, _ in outputs]
    assert all(result["posted"] > 0 for result in results), results  # both really posted: not one after the other
    assert sum(result["posted"] for result in results) == 120
    assert all(result["processed"] == result["posted"] + result["skipped"] + result["locked"] for result in results)
    assert all(result["locked"] == 0 and result["success"] for result in results)
    assert_each_installment_posted_once(120)


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_mid_run_is_resumed_by_the_next_run():
    many_loans(100)  # 300 due installments
    process = start_command("--chunk-size", "5")

    wait_until(lambda: posted_count() >= 20, timeout=60, interval=0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(30)

    killed_at = posted_count()
    assert 20 <= killed_at < 300, "the run finished before it could be killed"
    run_record = selectors.posting_runs().get()
    assert run_record.finished_at is None
    assert run_record.posted == killed_at  # its installments commit with their chunk, so they match exactly
    assert_each_installment_posted_once(killed_at)

    resumed = start_command()
    out, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, err
    assert json.loads(out)["posted"] == 300 - killed_at
    assert_each_installment_posted_once(300)
    assert Installment.objects.filter(due_date__lte=SUNDAY + timedelta(weeks=2), status="scheduled").count() == 0
