"""An account's statement: opening balance, the period's legs with a running balance in keyset
pages, closing balance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, Sum, Window

from loanproject.core import keyset
from loanproject.core.money import to_cents

from ..models import Account, Posting
from ._sums import sum_money as _sum

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
