"""Reads of the book: balances, trial balance, statements, open items and their aging.

Every balance is a sum of postings at read time; nothing is stored that could drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from loanproject.core.errors import NotFound
from loanproject.core.money import ZERO, to_cents

from .models import Account, AccountType, JournalEntry, OpenItem, OpenItemStatus, PaymentAllocation, Posting
from .parties import Party
from .sources import PAYMENT_SOURCE
from .statements import MONEY, AccountStatement, TrialBalance, account_statement, trial_balance

# The trial balance and the statements are read in .statements; they are offered here too.


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


def party_payment_legs(*, party_type: str) -> QuerySet[Posting]:
    """What payments received from parties of a type paid into their accounts (receivables and
    credit): the credit legs of payment entries that were not reversed. Sum `credit` by
    `account__party_id` and `entry__entry_date` for the money a party paid in a period; a caller
    may use it as a subquery (set-based), e.g. loans' promises to pay."""
    return Posting.objects.filter(
        entry__source=PAYMENT_SOURCE, entry__reversals__isnull=True, account__party_type=party_type, credit__gt=0
    )


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


__all__ = [
    "AGING_BUCKETS",
    "AGING_LABELS",
    "MONEY",
    "AccountStatement",
    "TrialBalance",
    "account_balance",
    "account_statement",
    "aging_bucket_conditions",
    "credit_balance",
    "open_items_aging",
    "open_items_aging_totals",
    "party_balance",
    "trial_balance",
]


def party_credit(*, party: Party, currency: str | None = None) -> Decimal:
    """What the party holds in credit (overpayments) in that currency: one aggregate, zero when it
    has no credit account."""
    totals = Posting.objects.filter(
        account__party_type=party.type,
        account__party_id=party.id,
        account__category="",
        account__type=AccountType.LIABILITY,
        currency=currency or settings.LEDGER_CURRENCY,
    ).aggregate(debits=_sum("debit"), credits=_sum("credit"))
    return to_cents(totals["credits"] - totals["debits"])


def entry_ids_of_referenced_items(reference: str, *, also: Sequence[int] = ()) -> QuerySet[OpenItem, Any]:
    """The ids (one column, `entry_id`) of the entries that opened the items referenced
    `reference` or "<reference> <detail>" (a booker labels its items so: "DL-2026-0001 #3"; the
    space keeps DL-2026-0001 from finding DL-2026-00010), of the payments allocated to them and of
    the reversals of those openings, plus the entries `also`: one UNION, each branch on an index
    (open_item_reference_idx, the allocations' item, the entries' reversal_of). ORed INs instead
    would scan the whole journal."""
    items = OpenItem.objects.filter(Q(reference=reference) | Q(reference__startswith=f"{reference} "))
    charges = items.values("entry_id")
    branches = [
        PaymentAllocation.objects.filter(item__in=items.values("pk")).values("payment_entry_id"),
        JournalEntry.objects.filter(reversal_of__in=charges).values("pk"),
    ]
    if also:
        branches.append(JournalEntry.objects.filter(pk__in=list(also)).values("pk"))
    return charges.union(*branches)
