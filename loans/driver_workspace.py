"""Reads for the driver's page in the admin (Finance's workspace): what the driver owes by
category, its oldest open items, its active loans with their next installment and days past due,
its latest payments with what each paid, and its credit.

Every list is bounded (the oldest OPEN_ITEMS_SHOWN items, the latest PAYMENTS_SHOWN payments, the
first LOANS_SHOWN active loans) and read on an index, so the page costs the same queries (seven)
whatever the driver's history; one row more than shown is read to know whether there are more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Sum

from ledger.models import Account, JournalEntry, OpenItem, OpenItemStatus, PaymentAllocation, Posting
from ledger.sources import PAYMENT_SOURCE
from ledger.statements import CategoryBalance, party_balances
from loanproject.core.money import ZERO, to_cents

from .accounts import driver_party
from .models import DriverLoan, Installment, InstallmentStatus, LoanStatus
from .periods import LATEST_BUSINESS_DATE

OPEN_ITEMS_SHOWN = 20
PAYMENTS_SHOWN = 10
LOANS_SHOWN = 20


@dataclass(frozen=True)
class ActiveLoan:
    loan: DriverLoan  # with its delinquency (and class) selected
    next_due: Installment | None  # the first installment of the live schedule due on or after today

    @property
    def days_past_due(self) -> int | None:
        """As of the loan's last classification (nightly, and at each payment); None before the first."""
        state = getattr(self.loan, "delinquency", None)
        return state.days_past_due if state else None

    @property
    def delinquency_class(self) -> str:
        state = getattr(self.loan, "delinquency", None)
        return str(state.delinquency_class) if state and state.delinquency_class else ""


@dataclass(frozen=True)
class Allocation:
    item_id: int
    reference: str
    category: str
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class RecentPayment:
    entry_id: int
    entry_date: date
    description: str
    amount: Decimal  # what it paid into the driver's accounts (its items and its credit)
    reversed: bool
    allocations: list[Allocation]

    @property
    def to_credit(self) -> Decimal:
        """What the payment left as credit (nothing was open to pay with it)."""
        return self.amount - sum((a.amount for a in self.allocations), ZERO)


@dataclass(frozen=True)
class DriverWorkspace:
    balances: list[CategoryBalance]  # receivables by category (the credit is apart)
    credit: Decimal
    account_ids: list[int]  # the driver's accounts: the full list of open items filters on them
    open_items: list[OpenItem]  # the oldest first, with `category` set
    more_open_items: bool
    loans: list[ActiveLoan]
    more_loans: bool
    payments: list[RecentPayment]  # the latest first

    @property
    def owed(self) -> Decimal:
        return sum((balance.closing for balance in self.balances), ZERO)

    @property
    def net(self) -> Decimal:
        """What the driver owes less what it holds in credit."""
        return self.owed - self.credit


def driver_workspace(*, driver_id: int, today: date) -> DriverWorkspace:
    """Everything Finance reads on the driver's page, in seven queries."""
    party = driver_party(driver_id)
    categories = dict(
        Account.objects.filter(party_type=party.type, party_id=party.id).values_list("id", "category").order_by("id")
    )
    # Every entry booked, future-dated charges too: the open items below include them.
    every = party_balances(party=party, as_of=LATEST_BUSINESS_DATE, currency=settings.LEDGER_CURRENCY)
    items = _open_items(list(categories), categories)
    loans = _active_loans(driver_id, today)
    return DriverWorkspace(
        balances=[balance for balance in every if balance.category],
        credit=-sum((balance.closing for balance in every if not balance.category), ZERO),
        account_ids=list(categories),
        open_items=items[:OPEN_ITEMS_SHOWN],
        more_open_items=len(items) > OPEN_ITEMS_SHOWN,
        loans=loans[:LOANS_SHOWN],
        more_loans=len(loans) > LOANS_SHOWN,
        payments=_recent_payments(list(categories), categories),
    )


def _open_items(account_ids: list[int], categories: dict[int, str]) -> list[OpenItem]:
    """The oldest open items, one more than shown (open_item_open_by_account_idx)."""
    items = list(
        OpenItem.objects.filter(account_id__in=account_ids, status=OpenItemStatus.OPEN).order_by("due_date", "id")[
            : OPEN_ITEMS_SHOWN + 1
        ]
    )
    for item in items:
        item.category = categories[item.account_id]  # type: ignore[attr-defined]  # shown beside the item
    return items


def _active_loans(driver_id: int, today: date) -> list[ActiveLoan]:
    loans = list(
        DriverLoan.objects.filter(driver_id=driver_id, status=LoanStatus.ACTIVE)  # loan_status_driver_idx
        .select_related("delinquency__delinquency_class")
        .order_by("start_week", "id")[: LOANS_SHOWN + 1]
    )
    if not loans:
        return []
    # PostgreSQL's DISTINCT ON: per loan, the first live installment due from today on.
    upcoming = (
        Installment.objects.filter(loan_id__in=[loan.pk for loan in loans], due_date__gte=today)
        .exclude(status=InstallmentStatus.CANCELLED)
        .order_by("loan_id", "sequence")
        .distinct("loan_id")
    )
    next_due = {installment.loan_id: installment for installment in upcoming}
    return [ActiveLoan(loan=loan, next_due=next_due.get(loan.pk)) for loan in loans]


def _recent_payments(account_ids: list[int], categories: dict[int, str]) -> list[RecentPayment]:
    """The latest payments (posting_account_entry_idx), then what each paid: two queries."""
    if not account_ids:
        return []
    rows = list(
        Posting.objects.filter(account_id__in=account_ids, entry__source=PAYMENT_SOURCE)
        .values("entry_id", "entry__entry_date", "entry__description")
        .annotate(
            amount=Sum(F("credit") - F("debit")),
            reversed=Exists(JournalEntry.objects.filter(reversal_of_id=OuterRef("entry_id"))),
        )
        .order_by("-entry_id")[:PAYMENTS_SHOWN]
    )
    if not rows:
        return []
    paid: dict[int, list[Allocation]] = {row["entry_id"]: [] for row in rows}
    allocations = (
        PaymentAllocation.objects.filter(payment_entry_id__in=list(paid))
        .select_related("item")
        .order_by("payment_entry_id", "id")
    )
    for allocation in allocations:
        item = allocation.item
        paid[allocation.payment_entry_id].append(
            Allocation(item.pk, item.reference, categories.get(item.account_id, ""), item.due_date, allocation.amount)
        )
    return [
        RecentPayment(
            entry_id=row["entry_id"],
            entry_date=row["entry__entry_date"],
            description=row["entry__description"],
            amount=to_cents(row["amount"]),
            reversed=row["reversed"],
            allocations=paid[row["entry_id"]],
        )
        for row in rows
    ]
