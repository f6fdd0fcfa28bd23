"""Report files built by a worker (core.export_jobs): the file equals the report, progress is
written chunk by chunk, only the requester downloads, a lost worker is taken over or the job
fails with the reason, and asking never waits on a dead broker."""

from __future__ import annotations

import dataclasses
import io
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from applications.tests.factories import StaffUserFactory
from conftest import celery_broker
from loanproject.core import export_jobs
from loanproject.core.models import ExportJob, ExportStatus
from loanproject.core.testing import deadline, refused_broker_url
from loans import services
from loans.reports import REPORTS

from .factories import SUNDAY, make_loan
from .test_api import client_for

pytestmark = pytest.mark.django_db

UNPOSTED = {"week": "2026-02-08"}


@pytest.fixture
def loans():
    """Three loans, two weeks posted: the unposted report of 2026-02-08 has 10 rows."""
    for principal, weeks in (("1000.00", 10), ("400.00", 4), ("600.00", 6)):
        make_loan(principal=principal, weeks=weeks, rate="7.5")
    services.post_weekly_installments(
        period_start=SUNDAY + timedelta(weeks=1), period_end=SUNDAY + timedelta(weeks=1, days=6)
    )


@pytest.fixture
def finance(db):
    return client_for("Finance")


def ask(client, name="unposted", body=UNPOSTED, *, capture):
    with capture(execute=True):  # the build is queued after commit; tasks run eagerly here
        return client.post(f"/api/v1/loans/reports/{name}/exports/", body, format="json")


def sheet_rows(content: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def as_cell(value):
    """What openpyxl reads back for a report value (a number for money, a datetime for a date)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def exact(row: list) -> list:
    """Numbers read back as Decimal, as exact as their text in the file."""
    return [Decimal(str(cell)) if isinstance(cell, float) else cell for cell in row]


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_file_equals_the_report(loans, finance, django_capture_on_commit_callbacks, name):
    report = REPORTS[name]
    query = {"unposted": UNPOSTED, "portfolio": {"status": "all"}}.get(name, {})
    expected = [[as_cell(row[key]) for key, _ in report.columns] for row in report.rows(**report.parse(query))]

    asked = ask(finance, name, query, capture=django_capture_on_commit_callbacks)
    job = finance.get(asked["Location"]).json()
    download = finance.get(job["download_url"])

    assert asked.status_code == 202
    assert (job["status"], job["rows_done"], job["rows_total"], job["percent"], job["error"]) == (
        "done",
        len(expected),
        len(expected),
        100,
        "",
    )
    assert download.status_code == 200
    assert download["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = sheet_rows(b"".join(download.streaming_content))
    assert rows[0] == [label for _, label in report.columns]
    assert [exact(row) for row in rows[1:]] == expected
    if name == "unposted":
        assert len(expected) == 10


def test_progress_is_written_after_every_chunk(loans, monkeypatch):
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY_ROWS", 5)
    monkeypatch.setattr("loans.reports.EXPORT_CHUNK_ROWS", 4)
    written: list[tuple[int | None, int]] = []
    progress = export_jobs._progress

    def spy(job_id, attempt, **fields):
        progress(job_id, attempt, **fields)
        job = ExportJob.objects.get(pk=job_id)
        written.append((job.rows_total, job.rows_done))

    monkeypatch.setattr(export_jobs, "_progress", spy)
    job = export_jobs.request_report_export(
        report="loans.unposted", parameters=UNPOSTED, requested_by=StaffUserFactory()
    )

    job = export_jobs.build_export(job_id=job.pk)

    assert written == [(10, 0), (10, 5), (10, 10), (10, 10)]
    assert (job.status, job.attempt, job.percent) == (ExportStatus.DONE, 1, 100)


def test_a_bad_query_is_a_400_and_queues_nothing(finance):
    response = finance.post("/api/v1/loans/reports/unposted/exports/", {"week": "next"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["week"]
    assert ExportJob.objects.count() == 0


def test_xlsx_is_never_built_inside_a_request(finance):
    response = finance.get("/api/v1/loans/reports/unposted/", {"export": "xlsx"})

    assert response.status_code == 400
    assert "/api/v1/loans/reports/unposted/exports/" in response.json()["error"]["fields"]["export"][0]


# --- Who may ask, see and download ---------------------------------------------------------------


def test_only_the_requester_sees_and_downloads_and_only_with_the_permission(
    loans, finance, django_capture_on_commit_callbacks
):
    colleague, auditor = client_for("Finance"), client_for("Auditor")
    job_url = ask(finance, capture=django_capture_on_commit_callbacks)["Location"]
    job = ExportJob.objects.get()
    file_url = f"/api/v1/exports/{job.pk}/file/"

    seen = {
        "colleague": (colleague.get(job_url).status_code, colleague.get(file_url).status_code),
        "auditor asks": auditor.post("/api/v1/loans/reports/unposted/exports/", UNPOSTED, format="json").status_code,
        "requester": (finance.get(job_url).status_code, finance.get(file_url).status_code),
    }
    finance.user.groups.clear()
    finance.user.user_permissions.add(Permission.objects.get(codename="view_driverloan"))
    seen["requester without the permission"] = finance.get(file_url).status_code

    assert seen == {
        "colleague": (404, 404),
        "auditor asks": 403,
        "requester": (200, 200),
        "requester without the permission": 403,
    }
    assert ExportJob.objects.count() == 1


def test_a_file_not_built_yet_is_a_409(finance):
    job = export_jobs.request_report_export(report="loans.unposted", parameters=UNPOSTED, requested_by=finance.user)

    response = finance.get(f"/api/v1/exports/{job.pk}/file/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "export_not_ready"


def test_the_admin_builds_the_file_in_a_job_and_lists_it_with_its_link(
    loans, client, django_capture_on_commit_callbacks
):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    other = StaffUserFactory()
    other.groups.add(Group.objects.get(name="Finance"))
    client.force_login(user)
    page = reverse("admin:loans_report", args=["unposted"])

    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(f"{page}?week=2026-02-08")
    listing = client.get(asked["Location"]).content.decode()
    job = ExportJob.objects.get()
    download = client.get(reverse("admin:core_exportjob_download", args=[job.pk]))
    client.force_login(other)
    theirs = client.get(reverse("admin:core_exportjob_download", args=[job.pk]))
    their_list = client.get(reverse("admin:core_exportjob_changelist")).content.decode()

    assert asked.status_code == 302 and asked["Location"] == reverse("admin:core_exportjob_changelist")
    assert (job.status, job.requested_by, job.parameters) == (ExportStatus.DONE, user, {"week": "2026-02-08"})
    assert "10 of 10 rows (100 %)" in listing and "Download" in listing
    assert len(sheet_rows(b"".join(download.streaming_content))) == 11
    assert theirs.status_code == 404
    assert "loans.unposted" not in their_list


# --- Failures and recovery -----------------------------------------------------------------------


def test_a_report_that_fails_marks_the_job_failed_with_the_reason(loans, monkeypatch):
    def broken(**parameters):
        raise RuntimeError("the report broke")
        yield

    registered = export_jobs._REGISTRY["loans.unposted"]
    monkeypatch.setitem(export_jobs._REGISTRY, "loans.unposted", dataclasses.replace(registered, rows=broken))
    job = export_jobs.request_report_export(
        report="loans.unposted", parameters=UNPOSTED, requested_by=StaffUserFactory()
    )

    job = export_jobs.build_export(job_id=job.pk)

    assert (job.status, job.error, job.file.name) == (ExportStatus.FAILED, "RuntimeError: the report broke", "")
    assert job.finished_at is not None


@override_settings(EXPORT_STALLED_AFTER_SECONDS=60, EXPORT_MAX_ATTEMPTS=2)
def test_a_killed_worker_is_taken_over_then_the_job_fails_with_the_reason(loans, django_capture_on_commit_callbacks):
    job = export_jobs.request_report_export(
        report="loans.unposted", parameters=UNPOSTED, requested_by=StaffUserFactory()
    )
    long_ago = timezone.now() - timedelta(minutes=5)

    def killed_mid_build():
        """A worker claimed the job, wrote some progress and died."""
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.RUNNING, attempt=job.attempt + 1, heartbeat_at=long_ago, rows_done=4, rows_total=10
        )
        job.refresh_from_db()

    killed_mid_build()
    with django_capture_on_commit_callbacks(execute=True):
        first = export_jobs.recover_stalled_exports()
    rebuilt = ExportJob.objects.get(pk=job.pk)
    fresh = export_jobs.recover_stalled_exports()  # a finished job is left alone

    assert (first.as_dict(), fresh.as_dict()) == ({"resent": [job.pk], "failed": []}, {"resent": [], "failed": []})
    assert (rebuilt.status, rebuilt.attempt, rebuilt.rows_done) == (ExportStatus.DONE, 2, 10)

    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.QUEUED, attempt=1, file="", finished_at=None)
    killed_mid_build()  # the second build dies too: attempt 2 of 2
    with django_capture_on_commit_callbacks(execute=True):
        last = export_jobs.recover_stalled_exports()
    job.refresh_from_db()

    assert last.as_dict() == {"resent": [], "failed": [job.pk]}
    assert job.status == ExportStatus.FAILED
    assert job.error.startswith("The worker building it was lost 2 time(s) (no progress since ")


@override_settings(EXPORT_STALLED_AFTER_SECONDS=60)
def test_a_lost_message_is_sent_again_and_a_live_build_is_left_alone(loans, django_capture_on_commit_callbacks):
    user = StaffUserFactory()
    lost = export_jobs.request_report_export(report="loans.unposted", parameters=UNPOSTED, requested_by=user)
    live = export_jobs.request_report_export(report="loans.unposted", parameters=UNPOSTED, requested_by=user)
    ExportJob.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    ExportJob.objects.filter(pk=live.pk).update(status=ExportStatus.RUNNING, attempt=1, heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        result = export_jobs.recover_stalled_exports()

    assert result.as_dict() == {"resent": [lost.pk], "failed": []}
    assert ExportJob.objects.get(pk=lost.pk).status == ExportStatus.DONE
    assert export_jobs.build_export(job_id=live.pk).status == ExportStatus.RUNNING  # in hand: not claimed twice


def test_a_worker_that_was_taken_over_stops_and_never_finishes_the_job(loans, monkeypatch):
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY_ROWS", 5)
    job = export_jobs.request_report_export(
        report="loans.unposted", parameters=UNPOSTED, requested_by=StaffUserFactory()
    )
    progress = export_jobs._progress

    def taken_over_after_the_first_chunk(job_id, attempt, **fields):
        progress(job_id, attempt, **fields)
        if fields.get("rows_done") == 5:  # the sweep re-queued it meanwhile
            ExportJob.objects.filter(pk=job_id).update(status=ExportStatus.QUEUED)

    monkeypatch.setattr(export_jobs, "_progress", taken_over_after_the_first_chunk)

    job = export_jobs.build_export(job_id=job.pk)

    assert (job.status, job.rows_done, job.file.name, job.error) == (ExportStatus.QUEUED, 5, "", "")


@pytest.mark.django_db(transaction=True)
def test_asking_for_a_file_never_waits_on_a_dead_broker():
    user = StaffUserFactory()
    with celery_broker(refused_broker_url()):
        started = time.monotonic()
        with deadline(10), transaction.atomic():
            job = export_jobs.request_report_export(report="loans.unposted", parameters=UNPOSTED, requested_by=user)
        took = time.monotonic() - started

    assert took < 0.2, f"the request took {took:.2f} s"
    job.refresh_from_db()
    assert (job.status, job.attempt) == (ExportStatus.QUEUED, 0)  # the sweep sends it again later
