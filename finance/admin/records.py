"""Net-worth snapshots and their bulk runs (read-only history) and customer documents."""

from __future__ import annotations

import json
from typing import ClassVar

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.api.parsers import MAX_JSON_DEPTH, UnstorableInput, loads_json

from .. import services
from ..models import Document, NetWorthSnapshot, NetWorthSnapshotRun


@admin.register(NetWorthSnapshot)
class NetWorthSnapshotAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """History: taken by the nightly job, `manage.py snapshot_net_worth` or the API; never edited."""

    list_display = [
        "id",
        "date",
        "customer",
        "net_worth",
        "total_assets",
        "total_liabilities",
        "currency",
        "accounts_count",
    ]
    list_select_related = ["customer"]
    list_filter = ["currency"]
    date_hierarchy = "date"
    search_fields = ["customer__full_name", "=customer__external_ref"]
    ordering = ["-date", "-id"]
    raw_id_fields = ["customer"]


@admin.register(NetWorthSnapshotRun)
class NetWorthSnapshotRunAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every bulk snapshot run (nightly job, command, admin action): who, which day, how many."""

    list_display = [
        "id",
        "date",
        "status",
        "chosen_customers",
        "customers",
        "created",
        "already_taken",
        "started_by",
        "started_at",
        "finished_at",
    ]
    list_select_related = ["started_by"]
    list_filter = ["status", "chosen_customers"]
    date_hierarchy = "date"
    search_fields = ["=id"]
    ordering = ["-id"]
    readonly_fields: ClassVar[tuple[str, ...]] = (
        "date",
        "status",
        "chosen_customers",
        "customers",
        "created",
        "already_taken",
        "started_by",
        "error_message",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields


class DocumentDataDecoder(json.JSONDecoder):
    """JSON as the API reads it (core.api.parsers.loads_json: fractions as Decimal, then strings;
    nothing PostgreSQL cannot store, no nesting past its bound). What it refuses is a form error."""

    def decode(self, s, *args, **kwargs):
        try:
            return loads_json(s)
        except UnstorableInput as problem:
            raise json.JSONDecodeError(problem.message, s, 0) from None
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), s, 0) from None


class DocumentForm(ServiceModelForm):
    upload = forms.FileField(label="File", help_text="PDF, JPEG or PNG; the same file is stored once per customer.")
    extracted_data = forms.JSONField(
        required=False,
        decoder=DocumentDataDecoder,
        help_text="A JSON object; amounts are kept exact (as strings).",
        error_messages={
            "invalid": f"Enter valid JSON without NUL characters or unpaired surrogates, nested at most {MAX_JSON_DEPTH} levels."
        },
    )

    class Meta:
        model = Document
        fields = ["customer", "document_type", "extracted_data"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields.pop("upload")

    def call_service(self) -> Document:
        data = self.cleaned_data
        if self.instance.pk is None:
            upload = data["upload"]
            document, _ = services.upload_document(
                customer_id=data["customer"].pk,
                document_type=data["document_type"],
                file=upload.file,
                original_name=upload.name or "",
                declared_content_type=upload.content_type,
                extracted_data=data["extracted_data"],
            )
            return document
        return services.update_document_data(document_id=self.instance.pk, extracted_data=data["extracted_data"])


@admin.register(Document)
class DocumentAdmin(LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = DocumentForm
    list_display = ["id", "document_type", "customer", "original_name", "content_type", "size_bytes", "uploaded_at"]
    list_select_related = ["customer"]
    list_filter = ["document_type", "content_type"]
    search_fields = ["original_name", "=sha256", "customer__full_name", "=customer__external_ref"]
    autocomplete_fields = ["customer"]
    ordering = ["-id"]
    readonly_fields = ["download", "original_name", "content_type", "size_bytes", "sha256", "uploaded_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "customer", "document_type"] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["customer", "document_type", "upload", "extracted_data"]
        return ["customer", "document_type", *self.readonly_fields, "extracted_data"]

    def get_urls(self):
        return [
            path(
                "<int:document_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="finance_document_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, document_id: int) -> FileResponse:
        document = get_object_or_404(Document, pk=document_id)
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        return FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name or (document.file.name or "").rsplit("/", 1)[-1],
            content_type=document.content_type,
        )

    @admin.display(description="File")
    def download(self, obj: Document) -> str:
        url = reverse("admin:finance_document_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a> ({} bytes)', url, obj.size_bytes)
