"""Staff API of export jobs: a job's progress and, once built, its file (export_jobs.py).

A job is visible to its requester (and superusers); anyone else gets 404, as if it did not exist.
The file answers 409 until the job is done and 403 to whoever may not download it."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from ..export_jobs import can_download, jobs_visible_to
from ..exports import XLSX_MEDIA_TYPE
from ..models import ExportJob, ExportStatus
from .authentication import StaffTokenAuthentication
from .errors import error_body


class IsActiveStaff(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class ExportJobSerializer(serializers.ModelSerializer[ExportJob]):
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True)
    percent = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="Once done, for whoever may download it.")

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "url",
            "report",
            "parameters",
            "format",
            "status",
            "rows_done",
            "rows_total",
            "percent",
            "attempt",
            "error",
            "requested_by",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_url(self, job: ExportJob) -> str:
        return reverse("api:export-job", kwargs={"pk": job.pk}, request=self.context.get("request"))

    def get_download_url(self, job: ExportJob) -> str | None:
        request = self.context.get("request")
        if job.status != ExportStatus.DONE or request is None or not can_download(request.user, job):
            return None
        return reverse("api:export-job-file", kwargs={"pk": job.pk}, request=request)


def _visible_job(request: Request, pk: int) -> ExportJob:
    job = jobs_visible_to(request.user).filter(pk=pk).first()
    if job is None:
        raise NotFound(f"No export job {pk}.")
    return job


class ExportJobView(APIView):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [IsActiveStaff]

    @extend_schema(responses={200: ExportJobSerializer}, description="An export job: status and progress.")
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExportJobSerializer(_visible_job(request, pk), context={"request": request}).data)


class ExportJobFileView(APIView):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [IsActiveStaff]

    @extend_schema(
        responses={
            (200, XLSX_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY),
            409: OpenApiResponse(description="Not built (yet)."),
        },
        description="The built file: for its requester, while holding the report's export permission.",
    )
    def get(self, request: Request, pk: int) -> FileResponse | Response:
        job = _visible_job(request, pk)
        if not can_download(request.user, job):
            raise PermissionDenied("Only its requester, holding the export permission, may download this file.")
        if job.status != ExportStatus.DONE:
            message = f"The export is {job.status}; poll its status until it is done."
            return Response(error_body(409, "export_not_ready", message), status=409)
        return FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=(job.file.name or "").rsplit("/", 1)[-1],
            content_type=XLSX_MEDIA_TYPE,
        )
