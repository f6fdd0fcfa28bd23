"""The payoffs in the admin, read-only: the "Settle by payoff" form under a loan's quote
(payoff_admin.py) makes them."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import display

from ledger.admin import entry_link
from loanproject.core.admin.readonly import ReadOnlyAdminMixin
from loanproject.core.admin.search import Exact, IndexedSearchMixin, as_int

from .admin import as_loan_number
from .models import LoanPayoff


@admin.register(LoanPayoff)
class LoanPayoffAdmin(ReadOnlyAdminMixin, IndexedSearchMixin, admin.ModelAdmin[LoanPayoff]):
    list_display = ["id", "loan", "as_of", "total", "amount_paid", "settled_by", "settled_at"]
    list_select_related = ["loan", "settled_by"]
    search_routes = [Exact("loan_number", as_loan_number, via="loan"), Exact("id", as_int)]
    search_help_text = "A loan number (DL-...) or a payoff id."
    ordering = ["-id"]
    fields = (
        "loan",
        "as_of",
        "principal",
        "interest",
        "billed_items",
        "total",
        "amount_paid",
        "payoff_entry_link",
        "payment_entry_link",
        "reference",
        "idempotency_key",
        "settled_by",
        "settled_at",
    )
    readonly_fields = fields

    @display(description="Payoff bill")
    def payoff_entry_link(self, obj: LoanPayoff) -> str:
        return entry_link(obj.payoff_entry_id)

    @display(description="Payment")
    def payment_entry_link(self, obj: LoanPayoff) -> str:
        return entry_link(obj.payment_entry_id)
