"""Admin of schedule changes: the versions of each loan (read-only, with their installments), the
prepayments, and the loan page's two forms: record a prepayment (services.prepay_loan) and ask
to restructure (services.request_loan_restructuring, maker-checker)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ledger.admin import entry_link
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int
from loanproject.core.admin.service_forms import add_service_error
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError, NotFound

from . import services
from .admin import as_loan_number
from .models import DriverLoan, Installment, LoanPrepayment, ScheduleVersion
from .periods import business_date_validator, business_today
from .schedule_version_models import PrepaymentMode
from .schedules import MAX_INSTALLMENTS, MAX_INTEREST_RATE
from .services.restructuring import RESTRUCTURE_LOAN_PERMISSION, RestructuringKind

PREPAY_PERMISSION = "ledger.record_payment"


class PrepaymentForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, help_text="What is due is paid first.")
    mode = forms.ChoiceField(choices=PrepaymentMode.choices)
    received_on = forms.DateField(validators=[business_date_validator])
    reference = forms.CharField(max_length=100, required=False)
    # Drawn when the form is shown: a second submission of the same form replays, never pays twice.
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)


class RestructuringForm(forms.Form):
    kind = forms.ChoiceField(choices=RestructuringKind.choices)
    periods = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INSTALLMENTS, help_text="Holiday: skipped; extension: added."
    )
    new_rate = forms.DecimalField(
        required=False, max_digits=6, decimal_places=3, min_value=0, max_value=MAX_INTEREST_RATE
    )
    capitalise = forms.TypedChoiceField(
        required=False,
        choices=[("", "-"), ("yes", "Capitalise the holiday's interest"), ("no", "Waive the holiday's interest")],
        coerce=lambda value: value == "yes",
        empty_value=None,
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class VersionInstallmentInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Installment
    template = "admin/loans/scheduleversion/installments_inline.html"  # a table, no repeated row titles
    fields = ("sequence", "due_date", "principal", "interest", "amount", "balance_after", "status")
    readonly_fields = fields
    ordering = ("sequence",)
    show_change_link = True
    can_delete = False


@admin.register(ScheduleVersion)
class ScheduleVersionAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    list_display = [
        "loan",
        "number",
        "kind",
        "from_sequence",
        "balance",
        "annual_interest_rate",
        "installment_count",
        "capitalised_interest",
        "created_by",
        "created_at",
    ]
    list_select_related = ["loan", "created_by"]
    list_filter = ["kind"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a version id."
    ordering = ["-id"]
    inlines = [VersionInstallmentInline]
    fields = (
        "loan",
        "number",
        "kind",
        "from_sequence",
        "balance",
        "annual_interest_rate",
        "installment_count",
        "periods",
        "capitalised_interest",
        "capitalisation_link",
        "reason",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="Capitalisation entry")
    def capitalisation_link(self, obj: ScheduleVersion) -> str:
        return entry_link(obj.capitalisation_entry_id) if obj.capitalisation_entry_id else "-"

    def get_urls(self):
        return [
            path("prepay/<int:loan_id>/", self.admin_site.admin_view(self.prepay_view), name="loans_loan_prepay"),
            path(
                "restructure/<int:loan_id>/",
                self.admin_site.admin_view(self.restructure_view),
                name="loans_loan_restructure",
            ),
            *super().get_urls(),
        ]

    def _loan(self, loan_id: int) -> DriverLoan:
        loan = DriverLoan.objects.filter(pk=loan_id).first()
        if loan is None:
            raise NotFound("No such loan.")
        return loan

    def _form_page(self, request: HttpRequest, loan: DriverLoan, form: forms.Form, title: str) -> HttpResponse:
        return TemplateResponse(
            request,
            "admin/loans/scheduleversion/form.html",
            {**self.admin_site.each_context(request), "title": title, "loan": loan, "form": form},
        )

    def _loan_page(self, loan: DriverLoan) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:loans_driverloan_change", args=[loan.pk]))

    def prepay_view(self, request: HttpRequest, loan_id: int) -> HttpResponse:
        if not request.user.has_perm(PREPAY_PERMISSION):
            raise PermissionDenied
        loan = self._loan(loan_id)
        initial = {"received_on": business_today(), "key": uuid.uuid4().hex, "mode": PrepaymentMode.REDUCE_TERM}
        form = PrepaymentForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                done = services.prepay_loan(
                    loan_id=loan.pk,
                    amount=data["amount"],
                    received_on=data["received_on"],
                    mode=data["mode"],
                    idempotency_key=f"admin:{data['key']}",
                    reference=data["reference"],
                    actor=acting_user(request),
                )
            except (DomainError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                prepaid = done.prepayment
                self.message_user(
                    request,
                    f"Prepaid {prepaid.amount} of {loan}: schedule version {prepaid.schedule_version.number} has "
                    f"{prepaid.schedule_version.installment_count} installment(s) to come.",
                    messages.SUCCESS,
                )
                return self._loan_page(loan)
        return self._form_page(request, loan, form, f"Prepay {loan}")

    def restructure_view(self, request: HttpRequest, loan_id: int) -> HttpResponse:
        if not request.user.has_perm(RESTRUCTURE_LOAN_PERMISSION):
            raise PermissionDenied
        loan = self._loan(loan_id)
        form = RestructuringForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                asked = services.request_loan_restructuring(
                    loan_id=loan.pk,
                    kind=data["kind"],
                    periods=data["periods"],
                    new_rate=data["new_rate"],
                    capitalise=data["capitalise"],
                    reason=data["reason"],
                    requested_by=acting_user(request),
                )
            except (DomainError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                done = asked.status == "direct"
                self.message_user(
                    request,
                    f"{loan} restructured (request #{asked.pk})."
                    if done
                    else f"Restructuring of {loan} asked (request #{asked.pk}): a second person approves it.",
                    messages.SUCCESS,
                )
                return self._loan_page(loan)
        return self._form_page(request, loan, form, f"Ask to restructure {loan}")


@admin.register(LoanPrepayment)
class LoanPrepaymentAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    list_display = ["loan", "received", "amount", "mode", "received_on", "schedule_version", "created_by"]
    list_select_related = ["loan", "schedule_version__loan", "created_by"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a prepayment id."
    ordering = ["-id"]
    fields = (
        "loan",
        "received",
        "amount",
        "mode",
        "received_on",
        "reference",
        "idempotency_key",
        "payment_link",
        "entry_link",
        "schedule_version",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="Payment entry")
    def payment_link(self, obj: LoanPrepayment) -> str:
        return entry_link(obj.payment_entry_id)

    @admin.display(description="Prepayment entry")
    def entry_link(self, obj: LoanPrepayment) -> str:
        return entry_link(obj.entry_id)
