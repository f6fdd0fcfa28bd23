"""Admin of late fees: read-only rows (the nightly job charges them), and the action that asks for
a waiver (a reason, then maker-checker: services.request_late_fee_waiver)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ledger.admin import entry_link
from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int
from loanproject.core.auth import acting_user

from . import services
from .admin import as_loan_number
from .models import LateFee
from .services.late_fee_waivers import WAIVE_LATE_FEE_PERMISSION


class WaiverReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


@admin.register(LateFee)
class LateFeeAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin[LateFee]):
    list_display = ["id", "loan", "installment_sequence", "amount", "outstanding", "charged_on", "status", "waived_by"]
    list_select_related = ["loan", "installment", "open_item", "waived_by"]
    list_filter = ["status"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a late fee id."
    ordering = ["-charged_on", "-id"]  # late_fee_charged_on_idx
    actions = ["ask_to_waive"]
    fields = (
        "loan",
        "installment",
        "amount",
        "charged_on",
        "charged_at",
        "entry_link",
        "open_item",
        "status",
        "waiver_link",
        "waived_at",
        "waived_by",
        "waiver_reason",
    )
    readonly_fields = fields

    def has_waive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(WAIVE_LATE_FEE_PERMISSION)

    @admin.display(description="Installment", ordering="installment__sequence")
    def installment_sequence(self, obj: LateFee) -> int:
        return obj.installment.sequence

    @admin.display(description="Outstanding")
    def outstanding(self, obj: LateFee) -> Any:
        return obj.open_item.outstanding

    @admin.display(description="Ledger entry")
    def entry_link(self, obj: LateFee) -> str:
        return entry_link(obj.entry_id)

    @admin.display(description="Waiver entry")
    def waiver_link(self, obj: LateFee) -> str:
        return entry_link(obj.waiver_entry_id) if obj.waiver_entry_id else "-"

    @admin.action(
        description="Ask to waive the selected late fees (a reason; a second person approves above the threshold)",
        permissions=["waive"],
    )
    def ask_to_waive(self, request: HttpRequest, queryset: QuerySet[LateFee]) -> HttpResponse | None:
        """First a page that asks why; on its submission, one request per fee."""
        form = WaiverReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            actor, reason = acting_user(request), form.cleaned_data["reason"]
            run_for_each(
                self,
                request,
                queryset,
                lambda pk: services.request_late_fee_waiver(late_fee_id=pk, reason=reason, requested_by=actor),
                label="late fee #{}".format,
                done=APPROVAL_ASKED.format(what="the waiver of {count} late fee(s)"),
            )
            return None
        return TemplateResponse(
            request,
            "admin/loans/latefee/waive.html",
            {
                **self.admin_site.each_context(request),
                "title": "Ask to waive late fees",
                "opts": self.model._meta,
                "form": form,
                "fees": queryset.select_related("loan", "installment").order_by("pk")[:100],
                "count": queryset.count(),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )
