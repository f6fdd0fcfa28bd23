"""The driver charges in the admin: file imports (upload), the queue of unmatched charges (assign
a driver, and the charge is booked), MISC charges and credits. Every change goes through
loans.services; lists do not query per row."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from ledger.admin import entry_link
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import NoDeleteAdminMixin
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_identifier
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.errors import DomainError

from . import services
from .models import ChargeImport, DriverAdjustment, ImportedCharge, ImportedChargeStatus
from .periods import business_date_validator

CHARGE_IMPORT_FIELDS = [
    "kind",
    "source_name",
    "started_by",
    "started_at",
    "finished_at",
    "rows_read",
    "booked",
    "unmatched",
    "duplicates",
    "rejected",
    "errors",
]


class ChargeImportForm(ServiceModelForm):
    file = forms.FileField(
        help_text="CSV with a header: external_id, date, amount, description and plate (EZPASS, PVB) or licence / "
        "medallion (TLC). Bad lines are reported and skipped; lines imported before are skipped."
    )

    class Meta:
        model = ChargeImport
        fields = ["kind"]

    def call_service(self) -> ChargeImport:
        kind, upload = self.cleaned_data["kind"], self.cleaned_data["file"]
        return services.import_charges(
            kind=kind, rows=services.read_csv(kind, upload), source_name=upload.name, started_by=self.user
        )


@admin.register(ChargeImport)
class ChargeImportAdmin(NoDeleteAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = ChargeImportForm
    list_display = ["id", "kind", "source_name", "started_by", "started_at", "rows_read", "booked", "unmatched"]
    list_display += ["duplicates", "rejected"]
    list_filter = ["kind"]
    list_select_related = ["started_by"]
    ordering = ["-id"]

    def get_fields(self, request, obj=None):
        return ["kind", "file"] if obj is None else CHARGE_IMPORT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return CHARGE_IMPORT_FIELDS if obj else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loans.import_charges")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class AssignDriverForm(ServiceModelForm):
    class Meta:
        model = ImportedCharge
        fields = ["driver"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "driver" in self.fields:
            self.fields["driver"].required = True

    def call_service(self) -> ImportedCharge:
        return services.assign_imported_charge(
            charge_id=self.instance.pk, driver_id=self.cleaned_data["driver"].pk, assigned_by=self.user
        )


@admin.register(ImportedCharge)
class ImportedChargeAdmin(
    LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, NoDeleteAdminMixin, ServiceAdminMixin, admin.ModelAdmin
):
    """The queue: filter on "Unmatched", open a charge, choose its driver and save: it is booked."""

    form = AssignDriverForm
    list_display = ["kind", "external_id", "charge_date", "amount", "plate", "medallion", "licence", "status", "driver"]
    list_filter = ["status", "kind"]
    list_select_related = ["driver"]
    search_routes = [Exact("external_id", as_identifier)]
    search_help_text = "An external id (toll transaction, summons or ticket number)."
    autocomplete_fields = ["driver"]
    ordering = ["-charge_date", "-id"]
    readonly = ["kind", "external_id", "charge_date", "amount", "description", "plate", "medallion", "licence"]

    def get_fields(self, request, obj=None):
        return [*self.readonly, "status", "driver", "entry_link", "charge_import", "booked_at"]

    def get_readonly_fields(self, request, obj=None):
        fixed = [*self.readonly, "status", "entry_link", "charge_import", "booked_at"]
        return fixed if obj is not None and obj.status == ImportedChargeStatus.UNMATCHED else [*fixed, "driver"]

    @admin.display(description="Entry")
    def entry_link(self, obj: ImportedCharge):
        return entry_link(obj.entry_id) if obj.entry_id else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class DriverAdjustmentForm(ServiceModelForm):
    effective_on = forms.DateField(required=False, validators=[business_date_validator], help_text="Default: today.")

    class Meta:
        model = DriverAdjustment
        fields = ["driver", "kind", "amount", "reason", "effective_on"]

    def call_service(self) -> DriverAdjustment:
        if self.instance.pk is not None:
            raise DomainError("An adjustment is read-only once booked: add the opposite one instead.")
        data = self.cleaned_data
        return services.add_driver_adjustment(
            driver_id=data["driver"].pk,
            kind=data["kind"],
            amount=data["amount"],
            reason=data["reason"],
            effective_on=data["effective_on"],
            created_by=self.user,
        )


@admin.register(DriverAdjustment)
class DriverAdjustmentAdmin(AuditedAdminMixin, NoDeleteAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = DriverAdjustmentForm
    list_display = ["id", "driver", "kind", "amount", "reason", "effective_on", "created_by", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["driver", "created_by"]
    autocomplete_fields = ["driver"]
    ordering = ["-id"]
    done = ["driver", "kind", "amount", "reason", "effective_on", "entry", "created_by", "created_at"]

    def get_fields(self, request, obj=None):
        return self.done if obj else ["driver", "kind", "amount", "reason", "effective_on"]

    def get_readonly_fields(self, request, obj=None):
        return self.done if obj else []

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)
