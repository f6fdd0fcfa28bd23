"""What the admin pages and the staff API share to present the book's reports: the permission,
CSV responses and the statement's signed cursor. The reads themselves are in .statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse

from loanproject.core import keyset
from loanproject.core.exports import csv_response

from .models import Account
from .parties import Party
from .statements import (
    PARTY_BALANCE_COLUMNS,
    STATEMENT_COLUMNS,
    TRIAL_BALANCE_COLUMNS,
    StatementPosition,
    account_statement_export,
    party_balances,
    trial_balance_export,
)

# Reading the book's reports (and exporting them) needs the ledger's view permission: Finance and
# Auditors hold it (settings.roles), loan officers and managers do not.
VIEW_BOOK = "ledger.view_account"
STATEMENT_PAGE_LINES = 500
CURSOR_SCOPE = "ledger.account-statement"


def trial_balance_csv(*, as_of: date, currency: str, by: str) -> StreamingHttpResponse:
    return csv_response(
        filename=f"trial-balance-{as_of}{'-' + currency if currency else ''}-by-{by}",
        columns=TRIAL_BALANCE_COLUMNS,
        rows=trial_balance_export(as_of=as_of, currency=currency or None, by_ledger=by == "ledger"),
    )


def account_statement_csv(*, account: Account, date_from: date, date_to: date) -> StreamingHttpResponse:
    return csv_response(
        filename=f"statement-{account.code.replace(':', '_')}-{date_from}-{date_to}",
        columns=STATEMENT_COLUMNS,
        rows=account_statement_export(account=account, date_from=date_from, date_to=date_to),
    )


def party_balances_csv(*, party: Party, as_of: date, currency: str) -> StreamingHttpResponse:
    rows = [
        {"category": balance.label, "currency": balance.currency, "balance": balance.closing}
        for balance in party_balances(party=party, as_of=as_of, currency=currency or None)
    ]
    return csv_response(filename=f"balances-{party.type}-{party.id}-{as_of}", columns=PARTY_BALANCE_COLUMNS, rows=rows)


def statement_cursor(position: StatementPosition, *, account: Account, date_from: date, date_to: date) -> str:
    """The next page's position and running balance, signed and bound to the account and period
    (a cursor of another statement would carry the wrong balance)."""
    figures = [str(figure) for figure in position.figures] if position.figures else None
    return keyset.encode_cursor(
        position.key,
        scope=CURSOR_SCOPE,
        a=account.pk,
        f=str(date_from),
        t=str(date_to),
        b=str(position.balance),
        s=figures,
    )


def statement_position(cursor: str, *, account: Account, date_from: date, date_to: date) -> StatementPosition:
    """The position of `statement_cursor`'s cursor; a field error on `after` if it is not one for
    this statement."""
    try:
        key, meta = keyset.decode_cursor(cursor, scope=CURSOR_SCOPE)
        if (meta.get("a"), meta.get("f"), meta.get("t")) != (account.pk, str(date_from), str(date_to)):
            raise ValueError
        entry_date, entry_id, posting_id = key
        if not (isinstance(entry_date, date) and isinstance(entry_id, int) and isinstance(posting_id, int)):
            raise ValueError
        opening, debits, credits = (Decimal(figure) for figure in meta["s"])
        return StatementPosition((entry_date, entry_id, posting_id), Decimal(meta["b"]), (opening, debits, credits))
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise ValidationError({"after": ["Not a cursor of this statement: use the link it gave."]}) from None
