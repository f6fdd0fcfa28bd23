"""What the loan page reads besides the loan itself: its schedule with totals, its schedule
versions and its ledger entries. A fixed number of indexed queries whatever the length of the
schedule (up to 520 installments): the totals are one SQL aggregate, the rows one query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Max, Min

from ledger.models import JournalEntry
from ledger.selectors import entry_ids_of_referenced_items
from loanproject.core.money import ZERO

from .models import DriverLoan, InstallmentStatus
from .schedule_version_models import ScheduleVersion
from .selectors import _sum, installments_with_payments

ENTRIES_SHOWN = 20

# The payment states of installments_with_payments(), in the order of a loan's life.
STATE_LABELS = {
    "paid": "Paid",
    "partially_paid": "Partially paid",
    "unpaid": "Posted, unpaid",
    "scheduled": "Scheduled",
    "cancelled": "Cancelled (superseded)",
}


@dataclass(frozen=True)
class ScheduleTotals:
    """One line of the totals: a payment state, or the whole live schedule ("total")."""

    label: str
    installments: int = 0
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    amount: Decimal = ZERO
    paid: Decimal = ZERO
    outstanding: Decimal = ZERO
    first_due: date | None = None
    last_due: date | None = None


@dataclass(frozen=True)
class LoanSchedule:
    """The live schedule's rows (cancelled installments of superseded versions are on their
    version's page), its totals per payment state and per column, and the next one to post."""

    rows: list = field(default_factory=list)
    lines: list[ScheduleTotals] = field(default_factory=list)
    cancelled: ScheduleTotals | None = None
    total: ScheduleTotals = ScheduleTotals("total")

    @property
    def next_to_post(self):
        return next((row for row in self.rows if row.status == InstallmentStatus.SCHEDULED), None)


def loan_schedule(*, loan_id: int) -> LoanSchedule:
    """Two queries on the loan's installments (installment_loan_sequence_idx), each row's open
    item read by its entry (the item's entry index): the rows, and the totals in one GROUP BY."""
    installments = installments_with_payments().filter(loan_id=loan_id)
    rows = list(
        installments.exclude(status=InstallmentStatus.CANCELLED)
        .only(
            "id",
            "sequence",
            "due_date",
            "principal",
            "interest",
            "amount",
            "balance_after",
            "status",
            "posted_entry_id",
        )
        .order_by("sequence")
    )
    for row in rows:
        row.state_label = STATE_LABELS[row.payment_state]  # type: ignore[attr-defined]
    per_state = {
        row["payment_state"]: row
        for row in installments.order_by()
        .values("payment_state")
        .annotate(
            count=Count("pk"),
            sum_principal=_sum("principal"),
            sum_interest=_sum("interest"),
            sum_amount=_sum("amount"),
            sum_paid=_sum("paid"),
            sum_outstanding=_sum("outstanding"),
            first_due=Min("due_date"),
            last_due=Max("due_date"),
        )
    }
    lines = {
        state: ScheduleTotals(
            STATE_LABELS[state],
            row["count"],
            row["sum_principal"],
            row["sum_interest"],
            row["sum_amount"],
            row["sum_paid"],
            row["sum_outstanding"] if state != "cancelled" else ZERO,
            row["first_due"],
            row["last_due"],
        )
        for state, row in per_state.items()
    }
    live = [lines[state] for state in STATE_LABELS if state in lines and state != "cancelled"]
    total = ScheduleTotals(
        "total",
        sum(line.installments for line in live),
        sum((line.principal for line in live), ZERO),
        sum((line.interest for line in live), ZERO),
        sum((line.amount for line in live), ZERO),
        sum((line.paid for line in live), ZERO),
        sum((line.outstanding for line in live), ZERO),
        min((line.first_due for line in live if line.first_due), default=None),
        max((line.last_due for line in live if line.last_due), default=None),
    )
    return LoanSchedule(rows=rows, lines=live, cancelled=lines.get("cancelled"), total=total)


def schedule_versions(*, loan_id: int) -> list[ScheduleVersion]:
    """The loan's versions, newest (the current one) first (schedule_version_number_unique)."""
    return list(ScheduleVersion.objects.filter(loan_id=loan_id).select_related("created_by").order_by("-number"))


def loan_entries(loan: DriverLoan, *, limit: int = ENTRIES_SHOWN) -> list[JournalEntry]:
    """The newest journal entries of this loan, one query: its disbursement and origination fee,
    the entries that opened its items (each referenced "<loan number> ...": installments "#n",
    their late fees, the origination fee, a payoff or a prepayment), the payments allocated to
    them and their reversals."""
    ids = entry_ids_of_referenced_items(
        loan.loan_number,
        also=[entry_id for entry_id in (loan.disbursement_entry_id, loan.origination_fee_entry_id) if entry_id],
    )
    return list(JournalEntry.objects.filter(pk__in=ids).order_by("-id")[:limit])
