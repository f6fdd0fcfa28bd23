"""The book as reports: the trial balance, account statements and a party's statement.

Every figure is summed from postings at read time (nothing stored can drift). Balances here are
debit minus credit: positive is a debit balance (what a party owes), negative a credit balance.
Because every entry balances per currency (migrations/0002_book_triggers.py), the balances of a
trial balance sum to zero per currency, whatever date it is taken on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, DecimalField, F, Q, Sum, Value, When, Window
from django.db.models.functions import Coalesce

from loanproject.core import keyset
from loanproject.core.money import ZERO, to_cents

from .models import Account, JournalEntry, PaymentAllocation, Posting
from .parties import Party
from .sources import CREDIT_SOURCE, PAYMENT_SOURCE

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _sum(expression: Any, **kwargs: Any) -> Coalesce:
    return Coalesce(Sum(expression, **kwargs), Value(ZERO), output_field=MONEY)


# --- Trial balance -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account (or, rolled up, one party ledger: every party's account of a kind)."""

    code: str
    name: str
    type: str
    currency: str
    debits: Decimal
    credits: Decimal
    account_id: int | None = None  # None for a party ledger rolled up

    @property
    def balance(self) -> Decimal:
        """Debit balance positive, credit balance negative."""
        return self.debits - self.credits

    @property
    def debit_balance(self) -> Decimal:
        return max(self.balance, ZERO)

    @property
    def credit_balance(self) -> Decimal:
        return max(-self.balance, ZERO)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "code": self.code,
            "name": self.name,
            "type": self.type,
            "currency": self.currency,
            "debits": self.debits,
            "credits": self.credits,
            "debit_balance": self.debit_balance,
            "credit_balance": self.credit_balance,
            "balance": self.balance,
        }


@dataclass(frozen=True)
class Totals:
    debits: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return self.debits - self.credits

    def plus(self, row: TrialBalanceRow) -> Totals:
        return Totals(self.debits + row.debits, self.credits + row.credits)


@dataclass
class TrialBalance:
    as_of: date | None  # None: everything booked
    currency: str | None
    rows: list[TrialBalanceRow]
    totals: dict[str, Totals] = field(default_factory=dict)  # per currency

    @property
    def balances(self) -> bool:
        """True when every currency's balances sum to zero (the book's invariant)."""
        return all(total.balance == ZERO for total in self.totals.values())


TRIAL_BALANCE_COLUMNS = (
    ("code", "Account"),
    ("name", "Name"),
    ("type", "Type"),
    ("currency", "Currency"),
    ("debits", "Debits"),
    ("credits", "Credits"),
    ("debit_balance", "Debit balance"),
    ("credit_balance", "Credit balance"),
)


def _trial_balance_sql(*, as_of: date | None, currency: str | None, by_ledger: bool) -> tuple[str, list[Any]]:
    """One grouped query: the postings of entries dated up to `as_of`, summed per account first
    (a hash aggregate on an integer key, the cheap way to read a million legs), then joined to
    their accounts and, by ledger, rolled up. Grouping the legs by the accounts' text columns
    directly would sort every leg by them (benchmarks/book_reports.py, a million legs on a loaded
    machine: 9 s that way, 3 s this way)."""
    posting, entry, account = Posting._meta.db_table, JournalEntry._meta.db_table, Account._meta.db_table
    join, conditions = "", []
    params: list[Any] = []
    if as_of is not None:
        join = f"JOIN {entry} e ON e.id = p.entry_id"
        conditions.append("e.entry_date <= %s")
        params.append(as_of)
    if currency:
        conditions.append("p.currency = %s")
        params.append(currency)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    per_account = (
        f"SELECT p.account_id, SUM(p.debit) AS debits, SUM(p.credit) AS credits FROM {posting} p {join} {where} "
        "GROUP BY p.account_id"
    )
    if not by_ledger:
        return (
            f"WITH t AS ({per_account}) SELECT a.id, a.code, a.name, a.type, a.currency, t.debits, t.credits "
            f"FROM t JOIN {account} a ON a.id = t.account_id ORDER BY a.code",
            params,
        )
    # Chart accounts one by one; party accounts rolled up per party type, kind and currency
    # ("loans.driver:*:LOANS:USD"; the credit accounts by their type, "liability").
    return (
        f"WITH t AS ({per_account}) "
        "SELECT CASE WHEN a.party_type = '' THEN a.id END, "
        "CASE WHEN a.party_type = '' THEN a.code ELSE a.party_type || ':*:' || "
        "CASE WHEN a.category = '' THEN a.type ELSE a.category END || ':' || a.currency END AS ledger, "
        "CASE WHEN a.party_type = '' THEN a.name ELSE '' END, a.type, a.currency, SUM(t.debits), SUM(t.credits) "
        f"FROM t JOIN {account} a ON a.id = t.account_id GROUP BY 1, 2, 3, 4, 5 ORDER BY 2",
        params,
    )


def _row(values: tuple[Any, ...], *, by_ledger: bool) -> TrialBalanceRow:
    account_id, code, name, type, currency, debits, credits = values
    if by_ledger and account_id is None:
        party_type, _, kind, _ = code.split(":")
        name = f"All {party_type} accounts: {kind}"
    return TrialBalanceRow(
        code=code,
        name=name,
        type=type,
        currency=currency,
        debits=to_cents(debits),
        credits=to_cents(credits),
        account_id=account_id,
    )


def trial_balance_rows(
    *, as_of: date | None = None, currency: str | None = None, by_ledger: bool = False
) -> Iterator[TrialBalanceRow]:
    """The trial balance's rows in account-code order, read from the database in chunks (a
    server-side cursor): an export of a million party accounts holds one chunk in memory.

    by_ledger: party accounts rolled up into one row per party type, category (or credit) and
    currency, so the page of a book with a million drivers stays a few dozen rows."""
    sql, params = _trial_balance_sql(as_of=as_of, currency=currency, by_ledger=by_ledger)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(2000):
            for values in chunk:
                yield _row(values, by_ledger=by_ledger)


def trial_balance(*, as_of: date | None = None, currency: str | None = None, by_ledger: bool = False) -> TrialBalance:
    """Every account (or party ledger) with postings up to `as_of`: debits, credits and balance,
    with totals per currency; one grouped query."""
    rows = list(trial_balance_rows(as_of=as_of, currency=currency, by_ledger=by_ledger))
    return TrialBalance(as_of=as_of, currency=currency, rows=rows, totals=totals_of(rows))


def totals_of(rows: Iterator[TrialBalanceRow] | list[TrialBalanceRow]) -> dict[str, Totals]:
    totals: dict[str, Totals] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Totals()).plus(row)
    return dict(sorted(totals.items()))


def trial_balance_export(
    *, as_of: date | None = None, currency: str | None = None, by_ledger: bool = False
) -> Iterator[dict[str, Any]]:
    """The rows as dicts for a CSV, then one "Total" row per currency (summed while streaming)."""
    totals: dict[str, Totals] = {}
    for row in trial_balance_rows(as_of=as_of, currency=currency, by_ledger=by_ledger):
        totals[row.currency] = totals.get(row.currency, Totals()).plus(row)
        yield row.as_dict()
    for code, total in sorted(totals.items()):
        yield {
            "code": "Total",
            "currency": code,
            "debits": total.debits,
            "credits": total.credits,
            "debit_balance": max(total.balance, ZERO),
            "credit_balance": max(-total.balance, ZERO),
        }


# --- Account statements ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    entry_id: int
    entry_date: date
    description: str
    source: str
    debit: Decimal
    credit: Decimal
    balance: Decimal

    @property
    def position(self) -> tuple[date, int, int]:
        return (self.entry_date, self.entry_id, self.posting_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "entry_date": self.entry_date,
            "description": self.description,
            "source": self.source,
            "debit": self.debit,
            "credit": self.credit,
            "balance": self.balance,
        }


STATEMENT_COLUMNS = (
    ("entry_date", "Date"),
    ("entry_id", "Entry"),
    ("description", "Description"),
    ("source", "Source"),
    ("debit", "Debit"),
    ("credit", "Credit"),
    ("balance", "Balance"),
)
# The statement's order: by date, then entry, then leg (posting_account_entry_idx reads an
# account's legs by entry; the entry's date comes with the join).
STATEMENT_KEY = ("entry__entry_date", "entry_id", "id")


@dataclass(frozen=True)
class StatementPosition:
    """Where a page ends: the last line's key and its balance, and the statement's figures
    (opening balance, the period's debits and credits), so the next page sums nothing again: it
    reads its lines only (the doors carry all of it in a signed cursor). A walk through the pages
    so shows the statement as its first page found it."""

    key: tuple[date, int, int]
    balance: Decimal
    figures: tuple[Decimal, Decimal, Decimal] | None = None


@dataclass(frozen=True)
class AccountStatement:
    account: Account
    date_from: date
    date_to: date
    opening_balance: Decimal
    debits: Decimal  # in the period
    credits: Decimal
    lines: list[StatementLine]
    next: StatementPosition | None = None  # set when more lines follow this page

    @property
    def closing_balance(self) -> Decimal:
        return self.opening_balance + self.debits - self.credits


def _period_figures(account: Account, date_from: date, date_to: date) -> tuple[Decimal, Decimal, Decimal]:
    """(opening balance, debits, credits in the period): one aggregate over the account's legs."""
    before, within = Q(entry__entry_date__lt=date_from), Q(entry__entry_date__gte=date_from)
    figures = Posting.objects.filter(account=account, entry__entry_date__lte=date_to).aggregate(
        debits_before=_sum("debit", filter=before),
        credits_before=_sum("credit", filter=before),
        debits=_sum("debit", filter=within),
        credits=_sum("credit", filter=within),
    )
    opening = to_cents(figures["debits_before"] - figures["credits_before"])
    return opening, to_cents(figures["debits"]), to_cents(figures["credits"])


def _lines(
    account: Account,
    date_from: date,
    date_to: date,
    *,
    after: StatementPosition | None,
    start: Decimal,
    limit: int | None,
) -> list[StatementLine]:
    legs = Posting.objects.filter(account=account, entry__entry_date__gte=date_from, entry__entry_date__lte=date_to)
    if after is not None:
        legs = legs.filter(keyset.after(STATEMENT_KEY, after.key))
    rows = (
        legs.annotate(
            # A window over this page only: the page starts from the balance `start`.
            running=Window(Sum(F("debit") - F("credit")), order_by=[F(name).asc() for name in STATEMENT_KEY])
        )
        .order_by(*STATEMENT_KEY)
        .values_list(
            "id", "entry_id", "entry__entry_date", "entry__description", "entry__source", "debit", "credit", "running"
        )
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        StatementLine(posting_id, entry_id, day, description, source, debit, credit, start + to_cents(running))
        for posting_id, entry_id, day, description, source, debit, credit, running in rows
    ]


def account_statement(
    *,
    account: Account,
    date_from: date,
    date_to: date,
    after: StatementPosition | None = None,
    limit: int | None = None,
) -> AccountStatement:
    """The account's legs between two dates (inclusive) with a running balance.

    Opening balance (before `date_from`), the period's debits and credits and so the closing
    balance: one aggregate. The lines: one keyset read, `limit` lines after `after` (all of them
    without a limit); a page's `next` tells where the next one starts. Three queries at most,
    whatever the page's depth; one (the lines) after the first page, whose figures `after` carries."""
    figures = after.figures if after is not None and after.figures is not None else None
    opening, debits, credits = figures or _period_figures(account, date_from, date_to)
    start = after.balance if after is not None else opening
    lines = _lines(account, date_from, date_to, after=after, start=start, limit=None if limit is None else limit + 1)
    more = limit is not None and len(lines) > limit
    lines = lines[:limit] if limit is not None else lines
    position = StatementPosition(lines[-1].position, lines[-1].balance, (opening, debits, credits)) if more else None
    return AccountStatement(account, date_from, date_to, opening, debits, credits, lines, position)


def account_statement_export(
    *, account: Account, date_from: date, date_to: date, chunk: int = 2000
) -> Iterator[dict[str, Any]]:
    """Opening line, every line (keyset chunks: bounded memory), closing line: for a CSV."""
    page = account_statement(account=account, date_from=date_from, date_to=date_to, limit=chunk)
    yield {"entry_date": date_from, "description": "Opening balance", "balance": page.opening_balance}
    while True:
        yield from (line.as_dict() for line in page.lines)
        if page.next is None:
            break
        page = account_statement(account=account, date_from=date_from, date_to=date_to, after=page.next, limit=chunk)
    yield {
        "entry_date": date_to,
        "description": "Closing balance",
        "debit": page.debits,
        "credit": page.credits,
        "balance": page.closing_balance,
    }


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
