"""Driver loans in the admin. Every change goes through loans.services; lists do not query per row."""

from __future__ import annotations

import re
from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from ledger.admin import entry_link
from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.reasons import with_reason
from loanproject.core.admin.search import Contains, Exact, IndexedSearchMixin, as_email, as_identifier, as_int
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError
from loanproject.core.export_jobs import request_report_export
from loanproject.core.exports import csv_response

from . import selectors, services
from .admin_statements import DriverStatementAdminMixin
from .admin_write_offs import LoanWriteOffActionsMixin
from .driver_workspace_admin import DriverWorkspaceAdminMixin
from .loan_page_admin import LoanPageAdminMixin
from .models import (
    Driver,
    DriverLoan,
    Installment,
    InstallmentPostingRun,
    Lease,
    LoanProduct,
    LoanStatus,
    PostingFailure,
    PostingRunChunk,
)
from .past_week_admin import PastWeekAdminMixin
from .payoff_admin import LoanPayoffAdminMixin
from .periods import business_date_validator, current_week, posting_week
from .reports import REPORTS
from .schedules import Frequency, Method

MAX_LOANS_PER_ACTION = 10_000
LOAN_NUMBER_RE = re.compile(r"^DL-[0-9]{4}-[0-9]{4,}$")
TLC_LICENSE_RE = re.compile(r"^[0-9A-Z-]{5,20}$")


def as_loan_number(term: str) -> str | None:
    number = term.upper()
    return number if LOAN_NUMBER_RE.match(number) else None


def as_tlc_license(term: str) -> str | None:
    licence = term.upper()
    if LOAN_NUMBER_RE.match(licence) or not TLC_LICENSE_RE.match(licence):
        return None
    return licence if any(c.isdigit() for c in licence) else None


REPORT_PREVIEW_ROWS = 200


# --- Drivers and leases ----------------------------------------------------------------------


class DriverForm(ServiceModelForm):
    class Meta:
        model = Driver
        fields = ["tlc_license_number", "full_name", "email", "phone", "status", "customer"]

    def call_service(self) -> Driver:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.register_driver(
                data=services.DriverData(
                    tlc_license_number=data["tlc_license_number"],
                    full_name=data["full_name"],
                    email=data["email"],
                    phone=data["phone"],
                    customer_id=data["customer"].pk if data["customer"] else None,
                )
            )
        return services.update_driver(
            driver_id=self.instance.pk,
            full_name=data["full_name"],
            email=data["email"],
            phone=data["phone"],
            status=data["status"],
            customer_id=data["customer"].pk if data["customer"] else None,
        )


class LeaseInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Lease
    fields: ClassVar[tuple[str, ...]] = ("lease_number", "medallion_number", "vehicle_plate", "start_date", "end_date")
    readonly_fields = fields
    show_change_link = True


@admin.register(Driver)
class DriverAdmin(
    DriverWorkspaceAdminMixin,
    DriverStatementAdminMixin,
    LargeTableAdminMixin,
    IndexedSearchMixin,
    AuditedAdminMixin,
    ServiceAdminMixin,
    admin.ModelAdmin,
):
    form = DriverForm
    change_form_template = "admin/loans/driver/change_form.html"  # the audit log and the statement
    list_display = ["full_name", "tlc_license_number", "status", "phone", "email", "customer"]
    list_filter = ["status"]
    list_select_related = ["customer"]
    search_routes = [
        Exact("tlc_license_number", as_tlc_license),
        Exact("id", as_int),
        Exact("email", as_email),
        Contains("full_name"),
    ]
    search_help_text = "A TLC licence number, an id, an e-mail, or words of the name (3 letters or more)."
    ordering = ["full_name", "id"]
    autocomplete_fields = ["customer"]
    inlines = [LeaseInline]
    actions = ["add_adjustment"]

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    @admin.action(description="Add a MISC charge or credit to the selected driver", permissions=["add_adjustment"])
    def add_adjustment(self, request, queryset):
        """Opens the adjustment form for the (first) selected driver."""
        driver = queryset.order_by("pk").first()
        query = urlencode({"driver": driver.pk if driver else ""})
        return HttpResponseRedirect(reverse("admin:loans_driveradjustment_add") + "?" + query)

    def has_add_adjustment_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loans.add_driveradjustment")

    def get_readonly_fields(self, request, obj=None):
        return ["tlc_license_number"] if obj else []


class LeaseForm(ServiceModelForm):
    class Meta:
        model = Lease
        fields = [
            "driver",
            "lease_number",
            "medallion_number",
            "vehicle_vin",
            "vehicle_plate",
            "start_date",
            "end_date",
            "weekly_fee",
        ]

    def call_service(self) -> Lease:
        if self.instance.pk is not None:
            raise DomainError("A lease is read-only once registered.")
        data = dict(self.cleaned_data)
        return services.register_lease(driver_id=data.pop("driver").pk, **data)


@admin.register(Lease)
class LeaseAdmin(LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = LeaseForm
    list_display = [
        "lease_number",
        "driver",
        "medallion_number",
        "vehicle_plate",
        "weekly_fee",
        "start_date",
        "end_date",
    ]
    list_select_related = ["driver"]
    search_routes = [
        Exact("lease_number", as_identifier),
        Exact("tlc_license_number", as_tlc_license, via="driver"),
        Contains("driver__full_name"),
    ]
    search_help_text = "A lease number, the driver's TLC licence number, or words of the driver's name."
    autocomplete_fields = ["driver"]
    ordering = ["-start_date", "id"]

    def get_readonly_fields(self, request, obj=None):
        return LeaseForm.Meta.fields if obj else []

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


# --- Loans -------------------------------------------------------------------------------------


class LoanBookingForm(ServiceModelForm):
    """A new loan, or an approved application booked as a loan (its amount, rate and term)."""

    source_application = forms.ModelChoiceField(
        queryset=LoanApplication.objects.filter(status=ApplicationStatus.APPROVED).select_related("customer"),
        required=False,
        help_text="Book an approved application: its approved amount, rate and term are used "
        "(leave principal, rate and number of installments blank to keep them).",
    )

    product = forms.ModelChoiceField(
        queryset=LoanProduct.objects.filter(is_current=True).order_by("code"),
        required=False,
        help_text="Book from a loan product (its current version): its ranges, rounding, grace and fee apply; "
        "the rate defaults to its lowest. Preview the schedule before saving.",
    )

    class Meta:
        model = DriverLoan
        fields = [
            "product",
            "source_application",
            "driver",
            "lease",
            "principal",
            "annual_interest_rate",
            "start_week",
            "installment_count",
            "frequency",
            "method",
            "purpose",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("principal", "annual_interest_rate", "installment_count", "purpose"):
            self.fields[name].required = False
        self.fields["start_week"].validators.append(business_date_validator)

    def clean(self):
        data = super().clean()
        if not data.get("source_application"):
            missing = {
                name: ["Required for a loan that is not booked from an application."]
                for name in ("principal", "installment_count", "purpose")
                if data.get(name) in (None, "")
            }
            if missing:
                raise ValidationError(missing)
        return data

    def call_service(self) -> DriverLoan:
        data = self.cleaned_data
        common = {
            "driver_id": data["driver"].pk,
            "lease_id": data["lease"].pk,
            "start_week": data["start_week"],
            "created_by": self.user,
            "frequency": data["frequency"],
            "method": data["method"],
            "annual_interest_rate": data.get("annual_interest_rate"),
        }
        if data.get("product"):
            common["product_id"] = data["product"].pk
        if data.get("source_application"):
            return services.book_application_as_loan(
                application_id=data["source_application"].pk, installment_count=data.get("installment_count"), **common
            )
        return services.create_driver_loan(
            principal=data["principal"], installment_count=data["installment_count"], purpose=data["purpose"], **common
        )

    def preview(self) -> services.LoanQuote:
        """The schedule booking this form would book, from the same `quote_loan` (nothing saved)."""
        data = self.cleaned_data
        if not data.get("product"):
            raise ValidationError({"product": ["Choose a loan product to preview its schedule."]})
        if data.get("principal") is None or data.get("installment_count") is None:
            raise ValidationError({"principal": ["Give the principal and the number of installments to preview."]})
        return services.preview_loan(
            product_id=data["product"].pk,
            principal=data["principal"],
            installment_count=data["installment_count"],
            start_week=data["start_week"],
            frequency=data["frequency"],
            method=data["method"],
            annual_interest_rate=data.get("annual_interest_rate"),
        )


class LoanRecordForm(ServiceModelForm):
    class Meta:
        model = DriverLoan
        fields: list[str] = []

    def call_service(self) -> DriverLoan:
        raise DomainError("A booked loan changes only through the actions of the list (cancel, post, reverse).")


@admin.register(DriverLoan)
class DriverLoanAdmin(
    LoanPageAdminMixin,
    LoanPayoffAdminMixin,
    LoanWriteOffActionsMixin,
    LargeTableAdminMixin,
    IndexedSearchMixin,
    AuditedAdminMixin,
    ServiceAdminMixin,
    admin.ModelAdmin,
):
    add_form = LoanBookingForm
    # The audited page: the booking form with its "Preview schedule"; the loan page (loan_page_admin.py).
    change_form_template = "admin/loans/driverloan/loan_page.html"
    list_display = [
        "loan_number",
        "driver",
        "lease",
        "principal",
        "annual_interest_rate",
        "frequency",
        "start_week",
        "installment_count",
        "status",
        "days_past_due",
        "created_at",
    ]
    list_select_related = ["driver", "lease", "delinquency"]
    list_filter = ["status", "delinquency__delinquency_class", "frequency", "method"]
    search_routes = [
        Exact("loan_number", as_loan_number),
        Exact("id", as_int),
        Exact("tlc_license_number", as_tlc_license, via="driver"),
        Contains("driver__full_name"),
    ]
    search_help_text = "A loan number (DL-...), an id, the driver's TLC licence number, or words of the driver's name."
    date_hierarchy = "start_week"  # loan_start_week_idx
    ordering = ["-id"]
    autocomplete_fields = ["driver", "lease"]
    actions = ["post_due_installments", "cancel_loans", "ask_to_write_off"]
    readonly_fields = [
        "loan_number",
        "driver",
        "lease",
        "principal",
        "annual_interest_rate",
        "frequency",
        "method",
        "start_week",
        "installment_count",
        "purpose",
        "status",
        "created_by",
        "source_application",
        "product",
        "principal_grace_periods",
        "currency_digits",
        "in_multiples_of",
        "installment_ceiling",
        "flat_interest_last_absorbs",
        "origination_fee",
        "origination_fee_collection",
        "origination_fee_link",
        "late_fee_kind",
        "late_fee_grace_days",
        "late_fee_amount",
        "late_fee_percent",
        "late_fee_cap",
        "receivable_account",
        "disbursement_link",
        "created_at",
        "closed_at",
        "payoff_link",
        "write_off_summary",
    ]

    def get_object(self, request, object_id, from_field=None):
        # The page shows these related records read-only: one query rather than one each.
        loans = self.get_queryset(request).select_related(
            "driver",
            "lease",
            "created_by",
            "source_application__customer",
            "receivable_account",
            "product",
            "write_off",
        )
        try:
            return loans.get(pk=DriverLoan._meta.pk.to_python(object_id))
        except (DriverLoan.DoesNotExist, ValidationError, ValueError):
            return None

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = self.add_form if obj is None else LoanRecordForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return LoanBookingForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if not add:
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Days past due", ordering="delinquency__days_past_due")
    def days_past_due(self, obj: DriverLoan) -> int | None:
        state = getattr(obj, "delinquency", None)
        return state.days_past_due if state else None

    @admin.display(description="Disbursement")
    def disbursement_link(self, obj: DriverLoan) -> str:
        return entry_link(obj.disbursement_entry_id)

    @admin.display(description="Origination fee entry")
    def origination_fee_link(self, obj: DriverLoan) -> str:
        return entry_link(obj.origination_fee_entry_id) if obj.origination_fee_entry_id else "-"

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            return self._preview_view(request, form_url)
        return super().add_view(request, form_url, extra_context)

    def _preview_view(self, request: HttpRequest, form_url: str) -> HttpResponse:
        """The add page again, with the schedule the form would book below the fields (no save)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request, None, change=False)(request.POST, request.FILES)
        preview = None
        if form.is_valid():
            try:
                preview = form.preview()
            except (DomainError, ValidationError) as exc:
                form._add_service_error(exc)
        fieldsets = [(None, {"fields": list(LoanBookingForm.Meta.fields)})]
        admin_form = helpers.AdminForm(form, fieldsets, {}, [], model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Add {self.opts.verbose_name}",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "preview": preview,
        }
        return self.render_change_form(request, context, add=True, change=False, form_url=form_url)

    def has_post_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loans.post_installments")

    @admin.action(description="Post this week's due installments of the selected loans", permissions=["post"])
    def post_due_installments(self, request: HttpRequest, queryset: QuerySet) -> None:
        loan_ids = list(queryset.order_by().values_list("pk", flat=True)[: MAX_LOANS_PER_ACTION + 1])
        if len(loan_ids) > MAX_LOANS_PER_ACTION:
            self.message_user(
                request,
                f"Select at most {MAX_LOANS_PER_ACTION:,} loans, or start a posting run for all loans "
                "(Posting runs > Add).",
                messages.ERROR,
            )
            return
        period_start, period_end = current_week()
        try:
            run = services.start_posting_run(
                period_start=period_start, period_end=period_end, started_by=acting_user(request), loan_ids=loan_ids
            )
        except (DomainError, ValidationError) as exc:
            self.message_user(
                request, exc.message if isinstance(exc, DomainError) else "; ".join(exc.messages), messages.ERROR
            )
            return
        self.message_user(request, _run_summary(run), messages.SUCCESS)

    @admin.action(description="Cancel the selected loans (nothing posted yet)", permissions=["change"])
    def cancel_loans(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = acting_user(request)
        reason = f"cancelled in admin by {actor.get_username()}"
        run_for_each(
            self,
            request,
            queryset,
            lambda pk, _: services.cancel_loan(loan_id=pk, reason=reason, actor=actor),
            fields=("pk", "loan_number"),
            label=lambda _, number: number,
            done="Cancelled {count} loan(s).",
        )

    # --- Reports ---

    def get_urls(self):
        return [
            path("reports/", self.admin_site.admin_view(self.reports_view), name="loans_reports"),
            path("reports/<slug:name>/", self.admin_site.admin_view(self.report_view), name="loans_report"),
            *super().get_urls(),
        ]

    def reports_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("loans.view_driverloan"):
            raise PermissionDenied
        return TemplateResponse(
            request,
            "admin/loans/reports.html",
            {
                **self.admin_site.each_context(request),
                "title": "Loan reports",
                "reports": REPORTS.values(),
                "opts": self.model._meta,
            },
        )

    def report_view(self, request: HttpRequest, name: str) -> HttpResponseBase:
        report = REPORTS.get(name)
        if report is None or not request.user.has_perm("loans.view_driverloan"):
            raise PermissionDenied
        can_export = request.user.has_perm("loans.export_loans")
        error = None
        try:
            parameters = report.parse(request.GET)
        except ValidationError as exc:
            error, parameters = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items()), None
        if request.method == "POST" and parameters is not None:
            # A spreadsheet is built by a worker (core.export_jobs); the page goes to its job.
            if not can_export:
                raise PermissionDenied
            job = request_report_export(
                report=f"loans.{report.name}", parameters=request.GET.dict(), requested_by=acting_user(request)
            )
            self.message_user(
                request, f"Export #{job.pk} is queued: the file appears here with its progress, then its link."
            )
            return HttpResponseRedirect(reverse("admin:core_exportjob_changelist"))
        export = request.GET.get("export")
        if parameters is not None and export == "csv":
            if not can_export:
                raise PermissionDenied
            stamp = "-".join(str(value) for value in parameters.values() if value is not None)
            return csv_response(
                filename=f"{report.name}-{stamp}", columns=report.columns, rows=report.rows(**parameters)
            )
        rows = []
        if parameters is not None:
            page = report.page(parameters, offset=0, limit=REPORT_PREVIEW_ROWS + 1)  # one more: truncated?
            rows = [[row.get(key) for key, _ in report.columns] for row in page]
        query = request.GET.copy()
        query.pop("export", None)
        return TemplateResponse(
            request,
            "admin/loans/report.html",
            {
                **self.admin_site.each_context(request),
                "title": report.title,
                "report": report,
                "rows": rows[:REPORT_PREVIEW_ROWS],
                "error": error,
                "parameters": parameters,
                "can_export": can_export,
                "query": query.urlencode(),
                "preview_limit": REPORT_PREVIEW_ROWS,
                "truncated": len(rows) > REPORT_PREVIEW_ROWS,
                "opts": self.model._meta,
            },
        )


def _run_summary(run: InstallmentPostingRun) -> str:
    run = selectors.posting_runs().get(pk=run.pk)
    week = f"week of {run.period_start}"
    if run.is_finished:
        return (
            f"Posting run #{run.pk} ({week}): posted {run.posted}, skipped {run.skipped}, failed {run.failed}, "
            f"locked {run.locked}, total {run.total_amount}."
        )
    return f"Posting run #{run.pk} ({week}) started: {run.chunks_total} chunk(s) queued for the workers."


# --- Loan products ---------------------------------------------------------------------------


class LoanProductForm(ServiceModelForm):
    """Adding or changing a product publishes a new version (services.publish_loan_product)."""

    frequencies = forms.MultipleChoiceField(choices=Frequency.choices, widget=forms.CheckboxSelectMultiple)
    methods = forms.MultipleChoiceField(choices=Method.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = LoanProduct
        fields = ["code", *services.PRODUCT_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a new version of this product
            self.fields["code"].disabled = True

    def call_service(self) -> LoanProduct:
        data = dict(self.cleaned_data)
        return services.publish_loan_product(code=data.pop("code"), created_by=self.user, **data)


@admin.register(LoanProduct)
class LoanProductAdmin(AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin):
    """Versions are never edited: saving a product (new or changed) publishes its next version;
    loans booked from an earlier one keep its terms."""

    form = LoanProductForm
    list_display = [
        "code",
        "version",
        "name",
        "is_current",
        "currency",
        "min_principal",
        "max_principal",
        "min_annual_rate",
        "max_annual_rate",
        "min_installments",
        "max_installments",
        "currency_digits",
        "in_multiples_of",
        "principal_grace_periods",
        "origination_fee_kind",
        "late_fee_kind",
        "created_by",
        "created_at",
    ]
    list_filter = ["is_current"]
    list_select_related = ["created_by"]
    search_fields = ["code"]
    ordering = ["code", "-version"]

    def get_readonly_fields(self, request, obj=None):
        return ["version", "is_current", "created_by", "created_at"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["code", *services.PRODUCT_FIELDS]
        return [*fields, "version", "is_current", "created_by", "created_at"] if obj else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # booked loans point to their version


# --- Installments and runs ---------------------------------------------------------------------


class LoanStatusFilter(admin.SimpleListFilter):
    """The installment's loan's status, titled so (two "By status" lists side by side confuse)."""

    title = "loan status"
    parameter_name = "loan__status__exact"

    def lookups(self, request, model_admin):
        return LoanStatus.choices

    def queryset(self, request, queryset):
        return queryset.filter(loan__status=self.value()) if self.value() else queryset


@admin.register(Installment)
class InstallmentAdmin(
    ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, admin.ModelAdmin
):
    list_display = [
        "loan",
        "sequence",
        "due_date",
        "principal",
        "interest",
        "amount",
        "status",
        "version",
        "entry",
        "posting_run",
    ]
    list_select_related = ["loan", "posting_run", "schedule_version"]
    list_filter = ["status", LoanStatusFilter]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or an installment id."
    date_hierarchy = "due_date"  # installment_due_idx
    ordering = ["-due_date", "-id"]  # installment_due_idx
    actions = ["reverse_postings"]
    fields: ClassVar[tuple[str, ...]] = (
        "loan",
        "sequence",
        "due_date",
        "principal",
        "interest",
        "amount",
        "balance_after",
        "status",
        "posting_attempt",
        "schedule_version",
        "entry",
        "posted_at",
        "posting_run",
    )
    readonly_fields = fields

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and request.user.has_perm("ledger.reverse_entry")

    def has_reverse_permission(self, request) -> bool:
        return request.user.has_perm("ledger.reverse_entry") and request.user.has_perm("loans.change_driverloan")

    @admin.display(description="Ledger entry")
    def entry(self, obj: Installment) -> str:
        return entry_link(obj.posted_entry_id)

    @admin.display(description="Schedule version", ordering="schedule_version__number")
    def version(self, obj: Installment) -> str:
        return f"v{obj.schedule_version.number} ({obj.schedule_version.get_kind_display()})"

    @admin.action(
        description="Reverse the postings of the selected installments (a second person approves, above the threshold)",
        permissions=["reverse"],
    )
    def reverse_postings(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """First a page that asks why; on its submission, one request per posted installment."""
        actor = acting_user(request)

        def ask(reason: str) -> None:
            run_for_each(
                self,
                request,
                queryset.filter(status="posted"),
                lambda pk: services.request_installment_posting_reversal(
                    installment_id=pk, reason=reason, requested_by=actor
                ),
                label="installment {}".format,
                done=APPROVAL_ASKED.format(what="the reversal of {count} posting(s)"),
            )

        return with_reason(
            self,
            request,
            queryset.filter(status="posted"),
            title="Ask to reverse postings",
            explanation="Each posted installment becomes a reversal request: done at once below the action's "
            "threshold, otherwise waiting in Approval requests for a second person.",
            submit="Ask to reverse",
            act=ask,
            describe=lambda rows: (
                f"{row.loan.loan_number} #{row.sequence} due {row.due_date}: {row.amount}"
                for row in rows.select_related("loan")
            ),
        )


class PostingRunForm(ServiceModelForm):
    """Starting a run: the week to post; the chunks run on the workers (at once without a broker)."""

    week = forms.DateField(
        help_text="Any day of this week (Sunday to Saturday, New York time); an earlier week needs a second person: "
        "Ask to post a past week.",
        validators=[business_date_validator],
    )

    class Meta:
        model = InstallmentPostingRun
        fields: list[str] = []

    def call_service(self) -> InstallmentPostingRun:
        period_start, period_end = posting_week(self.cleaned_data["week"])
        return services.start_posting_run(period_start=period_start, period_end=period_end, started_by=self.user)


class PostingRunChunkInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = PostingRunChunk
    fields = ("first_due", "first_id", "next_due", "next_id", "planned", "finished_at", "recovered")
    readonly_fields = fields
    verbose_name_plural = "chunks"


class PostingFailureInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = PostingFailure
    fields = ("installment", "locked", "message")
    readonly_fields = fields
    raw_id_fields = ["installment"]
    verbose_name_plural = "installments not posted"


class NeededRecoveryFilter(admin.SimpleListFilter):
    """Runs the recovery sweep had to finish: their workers or their queued chunks were lost."""

    title = "needed recovery"
    parameter_name = "needed_recovery"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(recovered_at__isnull=self.value() == "no")
        return queryset


def _figure(name: str, description: str):
    """A column for a figure selectors.posting_runs() counts from rows (not a model attribute)."""
    return admin.display(description=description)(lambda model_admin, run: getattr(run, name))


@admin.register(InstallmentPostingRun)
class InstallmentPostingRunAdmin(
    PastWeekAdminMixin, ReadOnlyAdminMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin
):
    form = PostingRunForm
    change_list_template = "admin/loans/installmentpostingrun/change_list.html"  # the link to ask for a past week
    inlines = [PostingRunChunkInline, PostingFailureInline]
    list_display = [
        "id",
        "period_start",
        "period_end",
        "started_by",
        "started_at",
        "finished_at",
        "progress",
        "processed",
        "posted",
        "skipped",
        "failed",
        "locked",
        "total_amount",
        "lease_fees",
        "lease_fee_amount",
        "recovered",
    ]
    list_filter = [NeededRecoveryFilter]
    list_select_related = ["started_by"]
    ordering = ["-id"]
    readonly_fields = [
        "period_start",
        "period_end",
        "started_by",
        "started_at",
        "finished_at",
        "chunk_size",
        "chunks_total",
        "chunks_done",
        "processed",
        "posted",
        "skipped",
        "failed",
        "locked",
        "total_amount",
        "errors",
        "lease_fees",
        "lease_fee_amount",
        "lease_fees_failed",
        "loan_ids",
        "recovered_at",
        "chunks_recovered",
    ]

    def get_queryset(self, request):
        return selectors.posting_runs()

    def get_fields(self, request, obj=None):
        return ["week"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.has_perm("loans.post_installments")

    @admin.display(description="Chunks")
    def progress(self, obj: InstallmentPostingRun) -> str:
        return f"{obj.chunks_done}/{obj.chunks_total}"

    chunks_done = _figure("chunks_done", "Chunks done")
    posted = _figure("posted", "Posted")
    failed = _figure("failed", "Failed")
    locked = _figure("locked", "Locked")
    total_amount = _figure("total_amount", "Total amount")
    errors = _figure("errors", "Errors")
    lease_fees = _figure("lease_fees", "Lease fees")
    lease_fee_amount = _figure("lease_fee_amount", "Lease fee amount")
    lease_fees_failed = _figure("lease_fees_failed", "Lease fees not billed")

    @admin.display(description="Recovered", boolean=True)
    def recovered(self, obj: InstallmentPostingRun) -> bool:
        return obj.recovered_at is not None

    chunks_recovered = _figure("chunks_recovered", "Chunks posted by the recovery sweep")

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _run_summary(obj), messages.SUCCESS)
        return super().response_post_save_add(request, obj)


# The screens of other concerns, in their own modules (importing them registers them): driver charges,
# delinquency classes, the collections workspace, late fees, payoffs, schedule versions, write-offs.
from . import (  # noqa: E402, F401
    charges_admin,
    collections_admin,
    delinquency_admin,
    late_fee_admin,
    payoff_list_admin,
    schedule_version_admin,
    write_off_admin,
)
