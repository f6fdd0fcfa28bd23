"""Accounts, their transactions, and the imports that brought the transactions in."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from loanproject.core.admin.actions import run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import NoDeleteAdminMixin, ReadOnlyAdminMixin
from loanproject.core.admin.search import Contains, Exact, IndexedSearchMixin, Prefix, as_identifier, as_int
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm

from .. import services
from ..models import Account, Transaction, TransactionImport
from ..services.imports import CSV_COLUMNS


class AccountForm(ServiceModelForm):
    class Meta:
        model = Account
        fields = [
            "connection",
            "provider_account_id",
            "name",
            "mask",
            "type",
            "subtype",
            "current_balance",
            "available_balance",
            "currency",
        ]

    def call_service(self) -> Account:
        data = dict(self.cleaned_data)
        if self.instance.pk is None:
            connection = data.pop("connection")
            return services.open_account(connection_id=connection.pk, data=services.AccountData(**data))
        return services.update_account(
            account_id=self.instance.pk,
            **{field: data[field] for field in ("name", "mask", "subtype", "current_balance", "available_balance")},
        )


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Account)
class AccountAdmin(LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = AccountForm
    list_display = [
        "id",
        "name",
        "mask",
        "type",
        "customer",
        "institution",
        "current_balance",
        "available_balance",
        "currency",
        "deleted_at",
    ]
    list_select_related = ["customer", "connection"]
    # No filter by currency: Django would read every account for the distinct currencies.
    list_filter = [OpenFilter, "type"]
    search_routes = [
        Exact("id", as_int),
        Exact("provider_account_id", as_identifier),
        Exact("external_ref", as_identifier, via="customer"),
        Contains("name"),
    ]
    search_help_text = (
        "An id, the provider's account id, the customer's reference, or words of the account's name "
        "(3 letters or more)."
    )
    raw_id_fields = ["connection"]
    ordering = ["-id"]
    readonly_fields = ["customer", "created_at", "updated_at", "deleted_at"]
    actions = ["close", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("connection__access_token")

    def get_readonly_fields(self, request, obj=None):
        return (
            [*self.readonly_fields, "connection", "provider_account_id", "type", "currency"]
            if obj
            else self.readonly_fields
        )

    @admin.display(description="Institution", ordering="connection__institution_name")
    def institution(self, obj: Account) -> str:
        return obj.connection.institution_name

    @admin.action(description="Close (soft delete) selected accounts", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_for_each(
            self, request, queryset, lambda pk: services.close_account(account_id=pk), done="Closed {count} account(s)."
        )

    @admin.action(description="Restore selected accounts", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_for_each(
            self,
            request,
            queryset,
            lambda pk: services.restore_account(account_id=pk),
            done="Restored {count} account(s).",
        )


@admin.register(Transaction)
class TransactionAdmin(LargeTableAdminMixin, IndexedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Transactions arrive only by import (file or API), never by hand."""

    list_display = ["id", "date", "name", "amount", "category", "pending", "account", "customer"]
    list_select_related = ["account", "customer"]
    list_filter = ["pending"]
    search_routes = [Exact("id", as_int), Exact("provider_transaction_id", as_identifier), Prefix("name")]
    search_help_text = "An id, the provider's transaction id, or the start of the name."
    ordering = ["-id"]  # transaction_pending_idx serves the pending filter
    raw_id_fields = ["account", "customer"]


class TransactionImportForm(ServiceModelForm):
    csv_file = forms.FileField(
        label="CSV file", help_text="Columns: " + ", ".join(CSV_COLUMNS) + " (the last three optional)."
    )

    class Meta:
        model = TransactionImport
        fields = ["connection"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "connection" in self.fields:  # the add form; an import's page is read-only
            self.fields["connection"].required = True

    def call_service(self) -> TransactionImport:
        upload = self.cleaned_data["csv_file"]
        report = services.import_transactions_csv(
            connection_id=self.cleaned_data["connection"].pk,
            csv_file=upload.file,
            source_name=upload.name or "",
            started_by=self.user,
        )
        return TransactionImport.objects.get(pk=report.import_id)


@admin.register(TransactionImport)
class TransactionImportAdmin(
    LargeTableAdminMixin, AuditedAdminMixin, ServiceAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin
):
    """Staff import a CSV file here ("Add"); every import, whoever ran it, is listed with its report."""

    form = TransactionImportForm
    list_display = [
        "id",
        "source",
        "source_name",
        "connection",
        "partner",
        "status",
        "rows_read",
        "inserted",
        "duplicates",
        "rejected",
        "started_at",
    ]
    list_select_related = ["connection", "partner"]
    list_filter = ["source", "status"]
    search_fields = ["source_name", "=id"]
    ordering = ["-id"]
    raw_id_fields = ["connection"]
    readonly_fields = [
        "source",
        "source_name",
        "connection",
        "partner",
        "started_by",
        "status",
        "rows_read",
        "inserted",
        "duplicates",
        "rejected",
        "error_report",
        "error_message",
        "started_at",
        "finished_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("connection__access_token")

    def get_fields(self, request, obj=None):
        return ["connection", "csv_file"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Refused rows")
    def error_report(self, obj: TransactionImport) -> str:
        if not obj.errors:
            return "—"
        rows = format_html_join(
            "",
            "<li>{} {}: {}</li>",
            (
                (
                    "line" if "line" in error else "item",
                    error.get("line", error.get("index")),
                    " ".join(error["errors"]),
                )
                for error in obj.errors
            ),
        )
        more = obj.rejected - len(obj.errors)
        return format_html("<ul>{}</ul>{}", rows, f"… and {more} more" if more > 0 else "")

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            f"Import #{obj.pk}: {obj.rows_read} row(s) read, {obj.inserted} added, "
            f"{obj.duplicates} already present, {obj.rejected} refused.",
        )
        return super().response_add(request, obj, post_url_continue)
