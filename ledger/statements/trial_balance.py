"""The trial balance: every account's (or party ledger's) debits and credits up to a date, one
grouped query; the balances of each currency sum to zero."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection

from loanproject.core.money import ZERO, to_cents

from ..models import Account, JournalEntry, Posting

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
    totals: dict[str, Totals] = field(default_factory=dict)  # per currency, of every row
    truncated: bool = False  # more rows than `rows` holds (a page): the totals still cover them all

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


def trial_balance(
    *, as_of: date | None = None, currency: str | None = None, by_ledger: bool = False, limit: int | None = None
) -> TrialBalance:
    """Every account (or party ledger) with postings up to `as_of`: debits, credits and balance,
    with totals per currency; one grouped query. With `limit`, only the first `limit` rows are
    kept (a page) while the totals are summed over every row as it streams by: memory stays
    bounded by the page whatever the number of accounts."""
    rows: list[TrialBalanceRow] = []
    totals: dict[str, Totals] = {}
    truncated = False
    for row in trial_balance_rows(as_of=as_of, currency=currency, by_ledger=by_ledger):
        totals[row.currency] = totals.get(row.currency, Totals()).plus(row)
        if limit is None or len(rows) < limit:
            rows.append(row)
        else:
            truncated = True
    return TrialBalance(
        as_of=as_of, currency=currency, rows=rows, totals=dict(sorted(totals.items())), truncated=truncated
    )


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
