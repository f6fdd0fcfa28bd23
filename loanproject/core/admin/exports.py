"""Export jobs in the admin: staff follow their files' progress and download them when built.

A user sees their own jobs (a superuser every job) and downloads under export_jobs.can_download:
the requester, while holding the report's export permission. Nothing is edited here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html

from .. import export_jobs
from ..exports import XLSX_MEDIA_TYPE
from ..models import ExportJob, ExportStatus
from .readonly import ReadOnlyAdminMixin


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[ExportJob]):
    list_display = ["id", "report", "requested_by", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["requested_by"]
    readonly_fields = (
        "report",
        "parameters",
        "format",
        "requested_by",
        "status",
        "progress",
        "attempt",
        "error",
        "created_at",
        "heartbeat_at",
        "finished_at",
    )
    fields = readonly_fields
    show_full_result_count = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        if obj is not None and obj.requested_by_id != user.pk and not user.is_superuser:
            return False
        return bool(user.is_active and user.is_staff and export_jobs.may_export_something(user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportJob]:
        return export_jobs.jobs_visible_to(request.user)

    @admin.display(description="progress")
    def progress(self, job: ExportJob) -> str:
        if job.rows_total is None:
            return "-" if job.status != ExportStatus.DONE else "100 %"
        return f"{job.rows_done:,} of {job.rows_total:,} rows ({job.percent} %)"

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return [*self.list_display, _download_column(request)]

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view), name="core_exportjob_download"),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        job = export_jobs.jobs_visible_to(request.user).filter(pk=pk).first()
        if job is None or job.status != ExportStatus.DONE:
            raise Http404("No such built export.")
        if not export_jobs.can_download(request.user, job):
            raise PermissionDenied
        return FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=(job.file.name or "").rsplit("/", 1)[-1],
            content_type=XLSX_MEDIA_TYPE,
        )


def _download_column(request: HttpRequest) -> Callable[[ExportJob], str]:
    """The file column, for this request's user: a link only where the download is allowed."""

    @admin.display(description="file")
    def download(job: ExportJob) -> str:
        if job.status == ExportStatus.FAILED:
            return job.error
        if job.status != ExportStatus.DONE:
            return "being built" if job.status == ExportStatus.RUNNING else "waiting for a worker"
        if not export_jobs.can_download(request.user, job):
            return "built"
        return format_html('<a href="{}">Download</a>', reverse("admin:core_exportjob_download", args=[job.pk]))

    return download
