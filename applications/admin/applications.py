"""Loan applications: entry by staff, the record, workflow actions and review decisions."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from loanproject.core.admin.actions import run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.filters import RangeFilter
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import NoDeleteAdminMixin
from loanproject.core.admin.search import (
    Contains,
    Exact,
    IndexedSearchMixin,
    UuidPrefix,
    as_email,
    as_identifier,
    as_uuid,
)
from loanproject.core.admin.service_forms import ServiceAdminMixin, ServiceModelForm
from loanproject.core.errors import DomainError

from .. import services
from ..lifecycle import ApplicationStatus
from ..models import LoanApplication, Reviewer
from ..reasons import REASONS, REJECTION_CODES, reason
from .related import RelatedApplicationsFilter
from .reviews import ReviewDecisionInline

APPLICATION_INPUT_FIELDS = [
    "customer",
    "external_ref",
    "requested_amount",
    "term_months",
    "purpose",
    "annual_income",
    "employment_status",
    "employment_duration_months",
    "existing_debts",
    "monthly_debt_payments",
    "credit_score",
    "total_payments",
    "late_payments",
    "utilization",
    "credit_inquiries",
    "credit_history_months",
    "credit_mix",
    "repayment_history",
]


class ApplicationEntryForm(ServiceModelForm):
    """Staff enter an application for an existing customer; it is scored like a partner's."""

    class Meta:
        model = LoanApplication
        fields = APPLICATION_INPUT_FIELDS

    def call_service(self) -> LoanApplication:
        data = dict(self.cleaned_data)
        customer = data.pop("customer")
        return services.submit_application(
            partner=customer.partner, customer=customer, application=services.ApplicationData(**data)
        )


class ApplicationRecordForm(ServiceModelForm):
    """The page of an application nobody can decide here: the record, read-only."""

    class Meta:
        model = LoanApplication
        fields: list[str] = []

    def call_service(self) -> LoanApplication:
        raise DomainError("This application is not awaiting your decision.")


class ReviewDecisionForm(ServiceModelForm):
    """A reviewer's decision, made on the version shown (a newer one wins: reload and decide)."""

    # Named apart from the model's own `decision`, `interest_rate` and `version`, which the page
    # shows read-only (the admin would render a same-named form field as the read-only value).
    outcome = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect)
    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Approved amount; blank means the proposed, pre-approved or requested amount.",
    )
    rate = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        required=False,
        label="Interest rate",
        help_text="Annual, percent; blank keeps the scored rate.",
    )
    reason_code = forms.ChoiceField(
        choices=[("", "---------")] + [(code, f"{code} {REASONS[code]}") for code in REJECTION_CODES],
        required=False,
        help_text="Required to reject.",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    seen_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = LoanApplication
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seen_version"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        if data.get("outcome") == "reject" and not data.get("reason_code"):
            self.add_error("reason_code", "State the reason for the rejection.")
        return data

    def call_service(self) -> LoanApplication:
        data = self.cleaned_data
        reject = data["outcome"] == "reject"
        return services.record_review_decision(
            application_id=self.instance.pk,
            expected_version=data["seen_version"],
            reviewer_user=self.user,
            approve=not reject,
            amount=data["amount"],
            interest_rate=data["rate"],
            comment=data["comment"],
            reasons=[services.Reason(**reason(data["reason_code"]))] if reject else None,
        )


REVIEW_FIELDS = ["outcome", "amount", "rate", "reason_code", "comment", "seen_version"]


class ReviewQueueFilter(admin.SimpleListFilter):
    title = "review queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("mine", "Assigned to me"),
            ("confirm", "Awaiting my confirmation"),
            ("waiting", "In review, unassigned"),
        ]

    def queryset(self, request, queryset):
        in_review = queryset.filter(status=ApplicationStatus.MANUAL_REVIEW)
        if self.value() == "mine":  # what "next in my queue" walks (selectors.next_in_admin_queue)
            return in_review.filter(assigned_to=request.user)
        if self.value() == "confirm":
            return in_review.filter(assigned_to=request.user, proposed_amount__isnull=False)
        if self.value() == "waiting":
            return in_review.filter(assigned_to__isnull=True)
        return queryset


class AssignReviewerForm(forms.Form):
    reviewer = forms.ModelChoiceField(
        queryset=Reviewer.objects.filter(is_active=True).select_related("user"), empty_label=None
    )


@admin.register(LoanApplication)
class LoanApplicationAdmin(
    NoDeleteAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, AuditedAdminMixin, ServiceAdminMixin, admin.ModelAdmin
):
    add_form = ApplicationEntryForm
    list_display = [
        "short_id",
        "customer",
        "partner",
        "status",
        "requested_amount",
        "approved_amount",
        "risk_level",
        "assigned_to",
        "submitted_at",
    ]
    list_select_related = ["customer", "partner", "assigned_to"]
    list_filter = [
        ReviewQueueFilter,
        "status",
        "risk_level",
        "decision",
        "purpose",
        "partner",
        ("requested_amount", RangeFilter),
        ("submitted_at", RangeFilter),
        ("decided_at", RangeFilter),
        RelatedApplicationsFilter,
    ]
    search_routes = [
        Exact("id", as_uuid),
        UuidPrefix("id"),
        Exact("external_ref", as_identifier),
        Exact("external_ref", as_identifier, via="customer"),
        Exact("email", as_email, via="customer"),
        Contains("customer__full_name"),
    ]
    search_help_text = (
        "An application id (or its first 8 characters), the partner's reference of the application or "
        "of its customer, the customer's e-mail, or words of the customer's name (3 letters or more)."
    )
    date_hierarchy = "submitted_at"  # application_submitted_id_idx
    ordering = ["-submitted_at", "-id"]
    autocomplete_fields = ["customer"]
    inlines = [ReviewDecisionInline]
    actions = ["assign_waiting", "assign_to_reviewer", "withdraw"]
    fieldsets = [
        ("Application", {"fields": ["id", "customer", "partner", "external_ref", "status", "version"]}),
        (
            "Request",
            {
                "fields": [
                    "requested_amount",
                    "term_months",
                    "purpose",
                    "annual_income",
                    "employment_status",
                    "employment_duration_months",
                    "existing_debts",
                    "monthly_debt_payments",
                ]
            },
        ),
        (
            "Credit data",
            {
                "fields": [
                    "credit_score",
                    "total_payments",
                    "late_payments",
                    "utilization",
                    "credit_inquiries",
                    "credit_history_months",
                    "credit_mix",
                    "repayment_history",
                ]
            },
        ),
        (
            "Decision",
            {
                "fields": [
                    "decision",
                    "risk_level",
                    "approved_amount",
                    "interest_rate",
                    "reasons",
                    "conditions",
                    "decision_note",
                    "decided_by",
                ]
            },
        ),
        ("Review", {"fields": ["assigned_to", "assigned_at", "proposed_amount"]}),
        ("Timestamps", {"fields": ["submitted_at", "updated_at", "processed_at", "decided_at"]}),
    ]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj else []  # history belongs to an existing application

    def _can_decide(self, request, obj) -> bool:
        return (
            obj is not None
            and obj.status in services.reviews.DECIDABLE_STATUSES
            and request.user.has_perm("applications.review_loanapplication")
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        else:
            kwargs["form"] = ReviewDecisionForm if self._can_decide(request, obj) else ApplicationRecordForm
        return super().get_form(request, obj, change, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if not add and not self._can_decide(request, obj):
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        if not add and self._can_decide(request, obj):
            context.update(show_save_and_continue=False, show_save_and_add_another=False, show_delete=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": APPLICATION_INPUT_FIELDS})]
        if self._can_decide(request, obj):
            return [*self.fieldsets, ("Your decision", {"fields": REVIEW_FIELDS})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # A submitted application is evidence: it changes only through services.
        return [name for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="ID", ordering="id")
    def short_id(self, obj: LoanApplication) -> str:
        return str(obj.pk)[:8]

    @admin.action(description="Assign waiting applications to the least-loaded officers", permissions=["review"])
    def assign_waiting(self, request: HttpRequest, queryset: QuerySet) -> None:
        assigned = services.assign_waiting_applications(application_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Assigned {assigned} application(s).", messages.SUCCESS)

    @admin.action(description="Assign to a reviewer…", permissions=["review"])
    def assign_to_reviewer(self, request: HttpRequest, queryset: QuerySet):
        form = AssignReviewerForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/applications/loanapplication/assign_reviewer.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Assign to a reviewer",
                    "form": form,
                    "applications": queryset.select_related("customer"),
                    "opts": self.model._meta,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        reviewer = form.cleaned_data["reviewer"]
        run_for_each(
            self,
            request,
            queryset,
            lambda pk: services.assign_application(application_id=pk, reviewer_user=reviewer.user),
            label=lambda pk: str(pk)[:8],
            refusals=(DomainError, ValidationError),
            done=f"Assigned {{count}} application(s) to {reviewer}.",
        )
        return None

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("applications.review_loanapplication")

    @admin.action(description="Withdraw selected applications", permissions=["change"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet) -> None:
        # The version is read now, not carried from the list page: the action form posts only the
        # selected ids, and a withdrawal is staff's decision about those applications as they are
        # now (it does not depend on the figures shown). The service still locks each row and
        # refuses one that has become final meanwhile.
        reason = f"withdrawn by {request.user.get_username()}"
        run_for_each(
            self,
            request,
            queryset,
            lambda pk, version: services.withdraw_application(
                application_id=pk, expected_version=version, reason=reason
            ),
            fields=("pk", "version"),
            label=lambda pk, _: str(pk)[:8],
            done="Withdrew {count} application(s).",
        )
