"""A party's book: its balances by category, and its statement for a period (charges by
category, payments and what they paid, its credit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, CharField, F, Q, Value, When

from loanproject.core.money import ZERO, to_cents

from ..models import PaymentAllocation, Posting
from ..parties import Party
from ..sources import CREDIT_SOURCE, PAYMENT_SOURCE
from ._sums import sum_money as _sum
from .accounts import STATEMENT_KEY

# --- A party's book ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryBalance:
    category: str  # "" for the party's credit account
    currency: str
    opening: Decimal
    closing: Decimal

    @property
    def label(self) -> str:
        return self.category or "CREDIT"


def party_balances(
    *, party: Party, as_of: date, since: date | None = None, currency: str | None = None
) -> list[CategoryBalance]:
    """The party's balance per category (and its credit, category ""), debit minus credit, on
    `as_of` and (opening) before `since`: one grouped query over the party's accounts."""
    postings = Posting.objects.filter(
        account__party_type=party.type, account__party_id=party.id, entry__entry_date__lte=as_of
    )
    if currency:
        postings = postings.filter(currency=currency)
    before = Q(entry__entry_date__lt=since) if since is not None else Q(pk__in=[])
    rows = (
        postings.order_by()
        .values("account__category", "account__currency")
        .annotate(net=_sum(F("debit") - F("credit")), net_before=_sum(F("debit") - F("credit"), filter=before))
        .order_by("account__currency", "account__category")
    )
    return [
        CategoryBalance(
            category=row["account__category"],
            currency=row["account__currency"],
            opening=to_cents(row["net_before"]),
            closing=to_cents(row["net"]),
        )
        for row in rows
    ]


PARTY_BALANCE_COLUMNS = (("category", "Category"), ("currency", "Currency"), ("balance", "Balance"))


# A party's movements in a period are of three kinds, read from the entry that booked them (or,
# for a reversal, from the entry it reverses): payments, the party's credit applied to its items
# (which moves money between the party's own accounts and so changes no total), and charges (every
# other entry: what was billed, by category, less what was reversed).
PAYMENT, CREDIT_APPLIED, CHARGE = "payment", "credit_applied", "charge"


def _kind() -> Case:
    return Case(
        When(Q(entry__source=PAYMENT_SOURCE) | Q(entry__reversal_of__source=PAYMENT_SOURCE), then=Value(PAYMENT)),
        When(Q(entry__source=CREDIT_SOURCE) | Q(entry__reversal_of__source=CREDIT_SOURCE), then=Value(CREDIT_APPLIED)),
        default=Value(CHARGE),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class PartyLine:
    posting_id: int
    entry_id: int
    entry_date: date
    description: str
    kind: str
    category: str
    debit: Decimal
    credit: Decimal
    reversal_of_id: int | None


@dataclass(frozen=True)
class PartyAllocation:
    payment_entry_id: int
    entry_date: date
    item_id: int
    reference: str
    category: str
    amount: Decimal


@dataclass(frozen=True)
class PartyPayment:
    """A payment received (or, negative, a payment reversed) as the party's accounts saw it."""

    entry_id: int
    entry_date: date
    description: str
    amount: Decimal
    reversal_of_id: int | None


@dataclass(frozen=True)
class PartyStatement:
    """A party's whole account for a period (inclusive), in one currency."""

    party: Party
    currency: str
    date_from: date
    date_to: date
    balances: list[CategoryBalance]
    charges: dict[str, Decimal]  # category -> net amount billed in the period
    payments: Decimal  # received in the period, less payments reversed
    credit_applied: Decimal  # the party's credit used on its items (no change to its total)
    lines: list[PartyLine]
    allocations: list[PartyAllocation]

    @property
    def opening_balance(self) -> Decimal:
        return sum((balance.opening for balance in self.balances), ZERO)

    @property
    def closing_balance(self) -> Decimal:
        return sum((balance.closing for balance in self.balances), ZERO)

    @property
    def total_charges(self) -> Decimal:
        return sum(self.charges.values(), ZERO)

    @property
    def charge_lines(self) -> list[PartyLine]:
        return [line for line in self.lines if line.kind == CHARGE]

    @property
    def payment_entries(self) -> list[PartyPayment]:
        """One per payment entry of the period, in date order: what it paid on the party's accounts."""
        amounts: dict[int, Decimal] = {}
        first: dict[int, PartyLine] = {}
        for line in self.lines:
            if line.kind == PAYMENT:
                amounts[line.entry_id] = amounts.get(line.entry_id, ZERO) + line.credit - line.debit
                first.setdefault(line.entry_id, line)
        return [
            PartyPayment(entry_id, line.entry_date, line.description, amounts[entry_id], line.reversal_of_id)
            for entry_id, line in first.items()
        ]

    @property
    def opening_credit(self) -> Decimal:
        return -sum((b.opening for b in self.balances if not b.category), ZERO)

    @property
    def closing_credit(self) -> Decimal:
        """What the party holds in credit at the end (overpayments not yet used)."""
        return -sum((b.closing for b in self.balances if not b.category), ZERO)


def party_statement(*, party: Party, date_from: date, date_to: date, currency: str | None = None) -> PartyStatement:
    """Opening and closing balances per category, the period's charges by category, payments,
    credit applied, every leg on the party's accounts, and what each payment paid: three queries.

    opening + charges - payments = closing, exactly: every leg on the party's accounts is a
    charge, a payment or a move of the party's credit (whose legs cancel out)."""
    currency = currency or settings.LEDGER_CURRENCY
    balances = party_balances(party=party, as_of=date_to, since=date_from, currency=currency)
    legs = (
        Posting.objects.filter(
            account__party_type=party.type,
            account__party_id=party.id,
            currency=currency,
            entry__entry_date__gte=date_from,
            entry__entry_date__lte=date_to,
        )
        .annotate(kind=_kind())
        .order_by(*STATEMENT_KEY)
        .values_list(
            "id",
            "entry_id",
            "entry__entry_date",
            "entry__description",
            "kind",
            "account__category",
            "debit",
            "credit",
            "entry__reversal_of_id",
        )
    )
    lines = [PartyLine(*row) for row in legs]
    charges: dict[str, Decimal] = {}
    payments = credit_applied = ZERO
    for line in lines:
        if line.kind == CHARGE:
            charges[line.category] = charges.get(line.category, ZERO) + line.debit - line.credit
        elif line.kind == PAYMENT:
            payments += line.credit - line.debit
        elif line.category:  # credit applied: count what it paid on the receivables
            credit_applied += line.credit - line.debit
    payment_entries = sorted({line.entry_id for line in lines if line.kind != CHARGE and not line.reversal_of_id})
    allocations = (
        [
            PartyAllocation(*row)
            for row in PaymentAllocation.objects.filter(payment_entry_id__in=payment_entries)
            .order_by("payment_entry_id", "id")
            .values_list(
                "payment_entry_id",
                "payment_entry__entry_date",
                "item_id",
                "item__reference",
                "item__account__category",
                "amount",
            )
        ]
        if payment_entries
        else []
    )
    return PartyStatement(
        party=party,
        currency=currency,
        date_from=date_from,
        date_to=date_to,
        balances=balances,
        charges=dict(sorted(charges.items())),
        payments=to_cents(payments),
        credit_applied=to_cents(credit_applied),
        lines=lines,
        allocations=allocations,
    )
