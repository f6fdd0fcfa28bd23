"""Admin of late fees: read-only rows (the nightly job charges them), and the action that asks for
a waiver (a reason, then maker-checker: services.request_late_fee_waiver)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from ledger.admin import entry_link
from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.reasons import with_reason
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int
from loanproject.core.auth import acting_user

from . import services
from .admin import as_loan_number
from .models import LateFee
from .services.late_fee_waivers import WAIVE_LATE_FEE_PERMISSION


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
        actor = acting_user(request)

        def ask(reason: str) -> None:
            run_for_each(
                self,
                request,
                queryset,
                lambda pk: services.request_late_fee_waiver(late_fee_id=pk, reason=reason, requested_by=actor),
                label="late fee #{}".format,
                done=APPROVAL_ASKED.format(what="the waiver of {count} late fee(s)"),
            )

        return with_reason(
            self,
            request,
            queryset,
            title="Ask to waive late fees",
            explanation="Each becomes a waiver request: done at once below the action's threshold, otherwise "
            "waiting in Approval requests for a second person.",
            submit="Ask to waive",
            act=ask,
            describe=lambda fees: (
                f"#{fee.pk} {fee.loan} installment {fee.installment.sequence}: {fee.amount}"
                for fee in fees.select_related("loan", "installment")
            ),
        )
