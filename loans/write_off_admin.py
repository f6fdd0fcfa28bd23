"""Admin of write-offs and recoveries: read-only lists with the totals of their filtered rows (the
doors that write are on the driver loans: admin_write_offs.py). The report of written-off loans
(written off, recovered, net loss) is among the loan reports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

from ledger.admin import entry_link
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int
from loanproject.core.money import ZERO

from . import selectors
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
    ]
    list_filter = ["recorded_by"]
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
