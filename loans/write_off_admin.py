"""Admin of write-offs and recoveries: read-only lists with the totals of their filtered rows, and
the action that asks to reverse recoveries (maker-checker); the doors that write off and record
recoveries are on the driver loans (admin_write_offs.py). The report of written-off loans
(written off, recovered, net loss) is among the loan reports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse

from ledger.admin import entry_link
from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.reasons import with_reason
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int
from loanproject.core.auth import acting_user
from loanproject.core.money import ZERO

from . import selectors, services
from .admin import as_loan_number
from .models import LoanRecovery, LoanWriteOff


class _TotalsAdminMixin:
    """The changelist shows what its filtered rows add up to (one aggregate query)."""

    totals: tuple[str, ...] = ()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            sums = changelist.queryset.order_by().aggregate(**{name: Sum(name) for name in self.totals})
            response.context_data["totals"] = {name: sums[name] or ZERO for name in self.totals}
        return response


@admin.register(LoanWriteOff)
class LoanWriteOffAdmin(
    _TotalsAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin[LoanWriteOff]
):
    list_display = ["loan", "driver", "written_off_on", "principal", "interest", "fees", "total", "written_off_by"]
    list_select_related = ["loan__driver", "written_off_by"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a write-off id."
    date_hierarchy = "written_off_on"  # loan_write_off_date_idx
    ordering = ["-written_off_on", "-id"]
    totals = ("principal", "interest", "fees", "total")
    change_list_template = "admin/loans/totals_change_list.html"
    fields = (
        "loan",
        "written_off_on",
        "principal",
        "unbilled_principal",
        "interest",
        "fees",
        "total",
        "entry_link",
        "reason",
        "written_off_by",
        "written_off_at",
    )
    readonly_fields = fields

    @admin.display(description="Driver")
    def driver(self, obj: LoanWriteOff) -> str:
        return obj.loan.driver.full_name

    @admin.display(description="Ledger entry")
    def entry_link(self, obj: LoanWriteOff) -> str:
        return entry_link(obj.entry_id)


@admin.register(LoanRecovery)
class LoanRecoveryAdmin(
    _TotalsAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin[LoanRecovery]
):
    list_display = [
        "received_on",
        "loan",
        "driver",
        "amount",
        "reference",
        "written_off",
        "loan_recovered",
        "net_loss",
        "recorded_by",
        "reversed_at",
    ]
    list_filter = ["recorded_by", ("reversal_entry", admin.EmptyFieldListFilter)]
    actions = ["ask_to_reverse"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a recovery id."
    date_hierarchy = "received_on"  # loan_recovery_received_idx
    ordering = ["-received_on", "-id"]
    totals = ("amount",)
    change_list_template = "admin/loans/totals_change_list.html"
    fields = (
        "loan",
        "amount",
        "received_on",
        "idempotency_key",
        "reference",
        "entry_link",
        "recorded_by",
        "recorded_at",
        "reversal_link",
        "reversed_at",
        "reversed_by",
        "reversal_reason",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LoanRecovery]:
        return selectors.loan_recoveries()

    @admin.display(description="Driver")
    def driver(self, obj: LoanRecovery) -> str:
        return obj.loan.driver.full_name

    @admin.display(description="Written off")
    def written_off(self, obj: LoanRecovery) -> Any:
        return obj.loan.write_off.total

    @admin.display(description="Recovered on the loan")
    def loan_recovered(self, obj: LoanRecovery) -> Any:
        return obj.loan_recovered

    @admin.display(description="Net loss")
    def net_loss(self, obj: LoanRecovery) -> Any:
        return obj.loan.write_off.total - obj.loan_recovered

    @admin.display(description="Ledger entry")
    def entry_link(self, obj: LoanRecovery) -> str:
        return entry_link(obj.entry_id)

    @admin.display(description="Reversal entry")
    def reversal_link(self, obj: LoanRecovery) -> str:
        return entry_link(obj.reversal_entry_id) if obj.reversal_entry_id else "-"

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.reverse_entry")

    @admin.action(
        description="Ask to reverse the selected recoveries (a reason; a second person approves above the threshold)",
        permissions=["reverse"],
    )
    def ask_to_reverse(self, request: HttpRequest, queryset: QuerySet[LoanRecovery]) -> HttpResponse | None:
        """First a page that asks why; on its submission, one request per recovery."""

        def ask(reason: str) -> None:
            actor = acting_user(request)
            run_for_each(
                self,
                request,
                queryset,
                lambda pk: services.request_loan_recovery_reversal(recovery_id=pk, reason=reason, requested_by=actor),
                label="recovery #{}".format,
                done=APPROVAL_ASKED.format(what="the reversal of {count} recovery(ies)"),
            )

        return with_reason(
            self,
            request,
            queryset,
            title="Ask to reverse recoveries",
            explanation="Each becomes a reversal request (Dr 4950 / Cr 1000): done at once below the action's "
            "threshold, otherwise waiting in Approval requests for a second person.",
            submit="Ask to reverse",
            act=ask,
            describe=lambda recoveries: (
                f"#{recovery.pk} {recovery.loan}: {recovery.amount} on {recovery.received_on}"
                for recovery in recoveries.select_related("loan")
            ),
        )
