"""Reads of the book: balances, trial balance, statements, open items and their aging.

Every balance is a sum of postings at read time; nothing is stored that could drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Case, DecimalField, F, Q, Sum, Value, When, Window
from django.db.models.functions import Coalesce

from loanproject.core.errors import NotFound
from loanproject.core.money import ZERO, to_cents

from .models import Account, OpenItem, OpenItemStatus, Posting
from .parties import Party

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _sum(expression: str | F | Case) -> Coalesce:
    return Coalesce(Sum(expression), Value(ZERO), output_field=MONEY)


# --- Balances ----------------------------------------------------------------------------------


def entry_amount(entry_id: int) -> Decimal:
    """What an entry moved: the sum of its debits (equal to its credits). NotFound if no such entry."""
    total: Decimal | None = Posting.objects.filter(entry_id=entry_id).aggregate(total=Sum("debit"))["total"]
    if total is None:
        raise NotFound("No such journal entry.")
    return total


def account_balance(*, account: Account, as_of: date | None = None) -> Decimal:
    """Debits minus credits, turned to the account's normal side (positive = what it holds)."""
    postings = Posting.objects.filter(account=account)
    if as_of is not None:
        postings = postings.filter(entry__entry_date__lte=as_of)
    totals = postings.aggregate(debits=_sum("debit"), credits=_sum("credit"))
    net = to_cents(totals["debits"] - totals["credits"])
    return net if account.is_debit_normal else -net


def credit_balance(*, account: Account) -> Decimal:
    """What a party's credit account holds: credits minus debits (one aggregate)."""
    totals = Posting.objects.filter(account=account).aggregate(debits=_sum("debit"), credits=_sum("credit"))
    return to_cents(totals["credits"] - totals["debits"])


def party_balance(*, party: Party, category: str | None = None) -> Decimal:
    """What the party owes (receivables) minus what it has in credit."""
    postings = Posting.objects.filter(account__party_type=party.type, account__party_id=party.id)
    if category is not None:
        postings = postings.filter(account__category=category)
    totals = postings.aggregate(debits=_sum("debit"), credits=_sum("credit"))
    return to_cents(totals["debits"] - totals["credits"])


@dataclass(frozen=True)
class TrialBalanceRow:
    account_id: int
    code: str
    name: str
    type: str
    currency: str
    debits: Decimal
    credits: Decimal

    @property
    def balance(self) -> Decimal:
        """Debit balance positive, credit balance negative."""
        return self.debits - self.credits


@dataclass
class TrialBalance:
    rows: list[TrialBalanceRow]
    totals: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # currency -> (debits, credits)

    @property
    def balances(self) -> bool:
        return all(debits == credits for debits, credits in self.totals.values())


def trial_balance(*, as_of: date | None = None) -> TrialBalance:
    """Every account with postings: total debits and credits (one grouped query)."""
    postings = Posting.objects.all()
    if as_of is not None:
        postings = postings.filter(entry__entry_date__lte=as_of)
    grouped = (
        postings.order_by()
        .values("account_id", "account__code", "account__name", "account__type", "account__currency")
        .annotate(debits=_sum("debit"), credits=_sum("credit"))
        .order_by("account__code")
    )
    rows = [
        TrialBalanceRow(
            account_id=row["account_id"],
            code=row["account__code"],
            name=row["account__name"],
            type=row["account__type"],
            currency=row["account__currency"],
            debits=to_cents(row["debits"]),
            credits=to_cents(row["credits"]),
        )
        for row in grouped
    ]
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        debits, credits = totals.get(row.currency, (ZERO, ZERO))
        totals[row.currency] = (debits + row.debits, credits + row.credits)
    return TrialBalance(rows=rows, totals=totals)


# --- Statements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    entry_id: int
    entry_date: date
    description: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass(frozen=True)
class AccountStatement:
    account: Account
    date_from: date
    date_to: date
    opening_balance: Decimal
    lines: list[StatementLine]
    closing_balance: Decimal


def account_statement(*, account: Account, date_from: date, date_to: date) -> AccountStatement:
    """The account's legs between two dates with a running balance (debit minus credit).

    The running balance is a window sum in the database, so the statement costs two queries
    whatever its length.
    """
    opening_totals = Posting.objects.filter(account=account, entry__entry_date__lt=date_from).aggregate(
        debits=_sum("debit"), credits=_sum("credit")
    )
    opening = to_cents(opening_totals["debits"] - opening_totals["credits"])
    legs = (
        Posting.objects.filter(account=account, entry__entry_date__gte=date_from, entry__entry_date__lte=date_to)
        .annotate(
            running=Window(
                Sum(F("debit") - F("credit")),
                order_by=[F("entry__entry_date").asc(), F("entry_id").asc(), F("id").asc()],
            )
        )
        .order_by("entry__entry_date", "entry_id", "id")
        .values_list("entry_id", "entry__entry_date", "entry__description", "debit", "credit", "running")
    )
    lines = [
        StatementLine(entry_id, entry_date, description, debit, credit, opening + to_cents(running))
        for entry_id, entry_date, description, debit, credit, running in legs
    ]
    closing = lines[-1].balance if lines else opening
    return AccountStatement(account, date_from, date_to, opening, lines, closing)


# --- Open items --------------------------------------------------------------------------------


AGING_BUCKETS = ("current", "days_1_7", "days_8_30", "days_31_60", "days_over_60")
AGING_LABELS = {
    "current": "Current",
    "days_1_7": "1-7 days",
    "days_8_30": "8-30 days",
    "days_31_60": "31-60 days",
    "days_over_60": "60+ days",
}


def _days_before(day: date, days: int) -> date:
    """`day` minus `days`, or the first representable date: nothing is due before it anyway."""
    try:
        return day - timedelta(days=days)
    except OverflowError:
        return date.min


def aging_bucket_conditions(as_of: date) -> dict[str, Q]:
    """Days past due = as_of - due date: current (not yet past due), 1-7, 8-30, 31-60, 60+."""
    week, month, two_months = (_days_before(as_of, days) for days in (7, 30, 60))
    return {
        "current": Q(due_date__gte=as_of),
        "days_1_7": Q(due_date__lt=as_of, due_date__gte=week),
        "days_8_30": Q(due_date__lt=week, due_date__gte=month),
        "days_31_60": Q(due_date__lt=month, due_date__gte=two_months),
        "days_over_60": Q(due_date__lt=two_months),
    }


def open_items_aging(
    *, as_of: date, party_type: str | None = None, category: str | None = None, party_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Outstanding amounts per party and age bucket (one grouped query), largest total first;
    only the parties `party_ids` (of `party_type`) if given, read through their accounts' open items."""
    items = OpenItem.objects.filter(status=OpenItemStatus.OPEN)
    if party_type is not None:
        items = items.filter(account__party_type=party_type)
    if party_ids is not None:
        items = items.filter(account__party_id__in=list(party_ids))
    if category is not None:
        items = items.filter(account__category=category)
    buckets = {
        name: _sum(Case(When(condition, then=F("outstanding")), default=Value(ZERO), output_field=MONEY))
        for name, condition in aging_bucket_conditions(as_of).items()
    }
    rows = (
        items.order_by()
        .values("account__party_type", "account__party_id", "account__currency")
        .annotate(**buckets, total=_sum("outstanding"))
        .order_by("-total", "account__party_id")
    )
    return [_aging_row(row) for row in rows]


def _aging_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "party_type": row["account__party_type"],
        "party_id": row["account__party_id"],
        "currency": row["account__currency"],
        **{name: to_cents(row[name]) for name in AGING_BUCKETS},
        "total": to_cents(row["total"]),
    }


def open_items_aging_totals(*, as_of: date, category: str | None = None) -> dict[str, Decimal]:
    """Outstanding amount of all open items per age bucket, in one aggregate query."""
    items = OpenItem.objects.filter(status=OpenItemStatus.OPEN)
    if category is not None:
        items = items.filter(account__category=category)
    totals = items.aggregate(
        **{
            name: _sum(Case(When(condition, then=F("outstanding")), default=Value(ZERO), output_field=MONEY))
            for name, condition in aging_bucket_conditions(as_of).items()
        }
    )
    return {name: to_cents(totals[name]) for name in AGING_BUCKETS}
