"""Large report files built by a worker, never inside a web request.

Staff ask for a file (`request_report_export`, from the admin or the API); the job is recorded in
the request's transaction and, after commit, handed to a worker through the process's sender
thread (`broker.send_task_soon`): the request answers 202 at once, even when the broker is dead.
A worker (`build_export`) claims the job, counts its rows, writes them in chunks to a temporary
file (openpyxl's write-only mode: memory bounded by a chunk), reporting progress after each chunk,
and stores the file in the private STORAGES["exports"]. Only the requester, or a superuser, may
download it, and only while holding the report's export permission (`can_download`): the file
holds what the requester was allowed to export, not something to pass around.

Nothing is stranded (`recover_stalled_exports`, on beat every minute):
- a job still queued after EXPORT_STALLED_AFTER_SECONDS lost its message (a dead broker, a flushed
  queue): it is sent again;
- a building job with no progress for EXPORT_STALLED_AFTER_SECONDS lost its worker (killed,
  out of memory): it is queued and sent again, at most EXPORT_MAX_ATTEMPTS builds in all, then
  marked failed with the reason.
A claim bumps `attempt`; every progress write and the finish are conditioned on the attempt, so a
worker that was taken over (slow, not dead) stops at its next chunk and never finishes the job.

Core imports no app: the exportable reports are registered by their apps at ready()
(`register_export`); a job names one by its registered name.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .broker import send_task_soon
from .errors import NotFound
from .models import ExportJob, ExportStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

# Rows between two progress writes (and heartbeats).
PROGRESS_EVERY_ROWS = 2000


@dataclass(frozen=True)
class Exportable:
    """A report an app offers for export: how to parse its query, count and read its rows."""

    name: str
    title: str
    columns: Sequence[tuple[str, str]]
    parse: Callable[[Mapping[str, str]], dict[str, Any]]
    rows: Callable[..., Iterable[Mapping[str, Any]]]
    count: Callable[..., int]
    permission: str


_REGISTRY: dict[str, Exportable] = {}


def register_export(exportable: Exportable) -> None:
    """Called by an app's ready(): `exportable.name` becomes a report jobs may name."""
    _REGISTRY[exportable.name] = exportable


def exportable(name: str) -> Exportable:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFound(f"No export {name!r}.") from None


def can_download(user: User | AnonymousUser, job: ExportJob) -> bool:
    """The requester (or a superuser), while holding the report's export permission."""
    if not user.is_authenticated or not user.is_active:
        return False
    report = _REGISTRY.get(job.report)
    if report is None or not user.has_perm(report.permission):
        return False
    return bool(user.is_superuser or job.requested_by_id == user.pk)


def may_export_something(user: User | AnonymousUser) -> bool:
    """Holds the export permission of some registered report (sees the export jobs)."""
    return any(user.has_perm(permission) for permission in {e.permission for e in _REGISTRY.values()})


def jobs_visible_to(user: User | AnonymousUser) -> QuerySet[ExportJob]:
    """A user's own jobs; a superuser's view is every job."""
    jobs = ExportJob.objects.select_related("requested_by")
    return jobs if user.is_superuser else jobs.filter(requested_by_id=user.pk)


# --- Requesting ---------------------------------------------------------------------------------


def request_report_export(
    *, report: str, parameters: Mapping[str, str], requested_by: User, format: str = "xlsx"
) -> ExportJob:
    """Record an export job and queue its build after commit (never waiting on the broker).

    The parameters are checked now (a bad query is the requester's error, not a failed job) and
    stored as given, for the worker to parse again."""
    target = exportable(report)
    if format != "xlsx":
        raise ValidationError({"format": ["Files are built as xlsx; CSV streams from the report itself."]})
    kept = {key: str(value) for key, value in parameters.items() if key not in ("export", "page", "page_size")}
    target.parse(kept)
    with transaction.atomic():
        job = ExportJob(requested_by=requested_by, report=report, parameters=kept, format=format)
        job.full_clean()
        job.save()
        _enqueue_after_commit(job.pk)
    return job


def _enqueue_after_commit(job_id: int) -> None:
    from .tasks import build_export_task

    # Through the sender thread: a dead broker never holds the request; recover_stalled_exports
    # sends what it never got.
    transaction.on_commit(lambda: send_task_soon(build_export_task, args=[job_id]), robust=True)


# --- Building -----------------------------------------------------------------------------------


class Superseded(Exception):
    """The job was taken over by a newer attempt (or finished): this build stops."""


def _claim(job_id: int, *, now: datetime) -> int | None:
    """Take the job for a build: queued, or building with no heartbeat for the stall delay (its
    worker is gone). Returns the attempt number, or None if it is done, failed or in hand."""
    stale = now - timedelta(seconds=settings.EXPORT_STALLED_AFTER_SECONDS)
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id)
            .filter(Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=stale))
            .first()
        )
        if job is None:
            return None
        job.status, job.attempt, job.heartbeat_at, job.rows_done = ExportStatus.RUNNING, job.attempt + 1, now, 0
        job.save(update_fields=["status", "attempt", "heartbeat_at", "rows_done"])
        return job.attempt


def _progress(job_id: int, attempt: int, **fields: Any) -> None:
    updated = ExportJob.objects.filter(pk=job_id, attempt=attempt, status=ExportStatus.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise Superseded(job_id)


def build_export(*, job_id: int) -> ExportJob:
    """Build the job's file (a worker's task; call it outside any transaction: progress commits
    chunk by chunk). A job another worker holds, or one already finished, is left as it is. A
    report that fails marks the job failed with the reason; a lost claim stops quietly."""
    attempt = _claim(job_id, now=timezone.now())
    job = ExportJob.objects.get(pk=job_id)
    if attempt is None:
        return job
    try:
        report = exportable(job.report)
        parameters = report.parse(job.parameters)
        _progress(job_id, attempt, rows_total=report.count(**parameters))
        with tempfile.TemporaryDirectory(prefix="export-") as directory:
            path = os.path.join(directory, "export.xlsx")
            _write_xlsx(path, report, parameters, job_id=job_id, attempt=attempt)
            with open(path, "rb") as built:
                _finish(job_id, attempt, built, name=f"{job.report.replace('.', '-')}-{job_id}.xlsx")
    except Superseded:
        logger.warning("export %s: attempt %s was taken over; it stops", job_id, attempt)
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        fail_export(job_id=job_id, reason=f"{type(exc).__name__}: {exc}", attempt=attempt)
    return ExportJob.objects.get(pk=job_id)


def _write_xlsx(path: str, report: Exportable, parameters: dict[str, Any], *, job_id: int, attempt: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # rows go to a temporary file as they come
    sheet = workbook.create_sheet(title=report.title[:31])
    sheet.append([label for _, label in report.columns])
    done = 0
    try:
        for row in report.rows(**parameters):
            sheet.append([row.get(key) for key, _ in report.columns])
            done += 1
            if done % PROGRESS_EVERY_ROWS == 0:
                _progress(job_id, attempt, rows_done=done)
    except BaseException:
        sheet.close()  # ends the sheet's temporary file, which the build's directory then takes away
        raise
    # Rows that became due between the count and the read: the total follows what was written.
    _progress(job_id, attempt, rows_done=done, rows_total=done)
    workbook.save(path)


def _finish(job_id: int, attempt: int, built: Any, *, name: str) -> None:
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.attempt != attempt or job.status != ExportStatus.RUNNING:
            raise Superseded(job_id)
        job.file.save(name, File(built), save=False)
        job.status, job.finished_at, job.error = ExportStatus.DONE, timezone.now(), ""
        job.save(update_fields=["file", "status", "finished_at", "error"])


def fail_export(*, job_id: int, reason: str, attempt: int | None = None) -> bool:
    """Mark an unfinished job failed with `reason` (of that attempt only, if given)."""
    jobs = ExportJob.objects.filter(pk=job_id, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
    if attempt is not None:
        jobs = jobs.filter(attempt=attempt)
    return bool(jobs.update(status=ExportStatus.FAILED, error=reason[:2000], finished_at=timezone.now()))


# --- Recovery -----------------------------------------------------------------------------------


@dataclass
class ExportRecovery:
    resent: list[int]
    failed: list[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"resent": self.resent, "failed": self.failed}


def recover_stalled_exports(*, now: datetime | None = None) -> ExportRecovery:
    """Beat's sweep (see the module docstring): send again the jobs whose message or worker was
    lost, fail those that lost EXPORT_MAX_ATTEMPTS builds. Idempotent: a job sent twice is built
    once (the claim), a failed one stays failed."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.EXPORT_STALLED_AFTER_SECONDS)
    result = ExportRecovery(resent=[], failed=[])
    stalled = ExportJob.objects.filter(
        Q(status=ExportStatus.QUEUED, created_at__lt=stale, heartbeat_at__isnull=True)
        | Q(status=ExportStatus.QUEUED, heartbeat_at__lt=stale)
        | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=stale)
    ).order_by("pk")
    with transaction.atomic():
        for job in stalled.select_for_update(skip_locked=True):
            if job.status == ExportStatus.RUNNING and job.attempt >= settings.EXPORT_MAX_ATTEMPTS:
                fail_export(
                    job_id=job.pk,
                    reason=f"The worker building it was lost {job.attempt} time(s) (no progress since "
                    f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}); ask for the file again.",
                )
                result.failed.append(job.pk)
                continue
            # Queued again, its heartbeat the time it was sent: the next tick waits a full delay.
            ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.QUEUED, heartbeat_at=now)
            _enqueue_after_commit(job.pk)
            result.resent.append(job.pk)
    if result.resent or result.failed:
        logger.warning("export recovery: %s", result.as_dict())
    return result
