"""The reviewer's page: an application in review opens on a summary of what scoring found, with
the decision form beside it; the full record below, folded. After a decision, "Save and open
next in my queue" goes straight to the next application of the reviewer's queue.

The decision is the existing form of LoanApplicationAdmin (the same service and permission); this
mixin only gathers the evidence to show beside it and places the form.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from applications import selectors as application_selectors
from applications.admin.related import PARAMETER as RELATED_PARAMETER
from applications.models import LoanApplication
from applications.services.reviews import DECIDABLE_STATUSES
from applications.validators import RepaymentStatus

from . import selectors
from .findings import agent_finding, findings

if TYPE_CHECKING:
    from django.template.response import _TemplateForResponseT

SAVE_AND_NEXT = "_savenext"  # the decision form's default button
DECISION_FIELDSET = "Your decision"  # LoanApplicationAdmin.get_fieldsets names it so
# The record's JSON fields, shown as lists and tables instead (same labels).
READABLE_FIELDS = {
    "credit_mix": "credit_mix_readable",
    "repayment_history": "repayment_history_readable",
    "reasons": "reasons_readable",
    "conditions": "conditions_readable",
}
PAGE_RELATED = ("customer", "partner", "assigned_to", "decided_by")


def credit_kind_label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def repayment_rows(history: list[dict]) -> list[tuple[str, str]]:
    """(month, status label) per month, newest first."""
    labels = dict(RepaymentStatus.choices)
    newest_first = sorted(history, key=lambda entry: entry["month"], reverse=True)  # "YYYY-MM" sorts as text
    return [(entry["month"], labels.get(entry["status"], entry["status"])) for entry in newest_first]


def repayment_counts(history: list[dict]) -> list[tuple[str, int]]:
    """Months per status, in the order of RepaymentStatus (statuses with no month left out)."""
    counts = Counter(entry["status"] for entry in history)
    return [(label, counts[status]) for status, label in RepaymentStatus.choices if counts[status]]


class ReviewPageMixin:
    """Mixed into the application admin (agents/admin.py): the page of an application in review."""

    # Typed as ModelAdmin types it, so that the bases agree (as in AuditedAdminMixin).
    change_form_template: ClassVar[_TemplateForResponseT | None] = (
        "admin/applications/loanapplication/review_change_form.html"
    )

    # --- the record, readable ------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [
            (name, {**options, "fields": [READABLE_FIELDS.get(field, field) for field in options["fields"]]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly
        return [READABLE_FIELDS.get(field, field) for field in readonly]

    @admin.display(description="Credit mix")
    def credit_mix_readable(self, obj: LoanApplication) -> SafeString:
        return render_to_string(
            "admin/applications/loanapplication/includes/credit_mix.html",
            {"kinds": [credit_kind_label(kind) for kind in obj.credit_mix]},
        )

    @admin.display(description="Repayment history")
    def repayment_history_readable(self, obj: LoanApplication) -> SafeString:
        return render_to_string(
            "admin/applications/loanapplication/includes/repayment_history.html",
            {"months": repayment_rows(obj.repayment_history), "counts": repayment_counts(obj.repayment_history)},
        )

    @admin.display(description="Reasons")
    def reasons_readable(self, obj: LoanApplication) -> SafeString | str:
        return _list((f"{stated['code']} {stated['text']}",) for stated in obj.reasons)

    @admin.display(description="Conditions")
    def conditions_readable(self, obj: LoanApplication) -> SafeString | str:
        return _list((condition,) for condition in obj.conditions)

    # --- the summary beside the decision -------------------------------------------------------

    def get_object(self, request, object_id, from_field=None):
        """The application with what its page shows of its relations, in one query."""
        queryset = self.get_queryset(request).select_related(*PAGE_RELATED)
        field = LoanApplication._meta.pk if from_field is None else LoanApplication._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (LoanApplication.DoesNotExist, ValidationError, ValueError):
            return None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.status in DECIDABLE_STATUSES:
            context["review"] = self._review_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _review_context(self, request: HttpRequest, application: LoanApplication) -> dict[str, Any]:
        evidence = selectors.latest_scoring_evidence(application_id=application.pk)
        related, more_related = application_selectors.related_applications(application)
        income = evidence.results.get("income_verification")
        affordability = evidence.results.get("affordability")
        changelist = reverse("admin:applications_loanapplication_changelist")
        return {
            "application": application,
            "can_decide": self._can_decide(request, application),  # type: ignore[attr-defined]
            "decision_fieldset": DECISION_FIELDSET,
            "save_and_next": SAVE_AND_NEXT,
            "evidence": evidence,
            "income": income.output if income and income.output else None,
            "payment": affordability.output.get("requested_payment") if affordability else None,
            "findings": findings(application.reasons, evidence.results),
            "agents": [(result, agent_finding(result)) for result in evidence.results.values()],
            "credit_kinds": [credit_kind_label(kind) for kind in application.credit_mix],
            "repayment_counts": repayment_counts(application.repayment_history),
            "repayment_months": repayment_rows(application.repayment_history),
            "related": related,
            "more_related_url": f"{changelist}?{RELATED_PARAMETER}={application.pk}" if more_related else "",
            "queue_url": f"{changelist}?queue=mine",
        }

    # --- after the decision: the next in the queue ---------------------------------------------

    def response_change(self, request: HttpRequest, obj: LoanApplication) -> HttpResponse:
        if SAVE_AND_NEXT not in request.POST:
            return super().response_change(request, obj)  # type: ignore[misc]
        self.message_user(request, _saved_message(obj), messages.SUCCESS)  # type: ignore[attr-defined]
        next_id = application_selectors.next_in_admin_queue(user=request.user, after=obj)
        if next_id is None:
            self.message_user(  # type: ignore[attr-defined]
                request, "Queue empty: nothing else in manual review is assigned to you.", messages.INFO
            )
            return HttpResponseRedirect(reverse("admin:applications_loanapplication_changelist") + "?queue=mine")
        url = reverse("admin:applications_loanapplication_change", args=[next_id])
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": LoanApplication._meta}  # type: ignore[attr-defined]
        return HttpResponseRedirect(add_preserved_filters(preserved, url))


def _saved_message(application: LoanApplication) -> str:
    if application.proposed_amount is not None:
        return (
            f"Approval of {application.proposed_amount} for {application} proposed; "
            f"{application.assigned_to} confirms it."
        )
    return f"Decision saved: {application}."


def _list(items) -> SafeString | str:
    html = format_html_join("", "<li>{}</li>", items)
    return SafeString(f'<ul class="readable-list">{html}</ul>') if html else "-"
