"""Accounts: the chart of accounts, each party's accounts, closing an account to new postings."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from loanproject.core.errors import Conflict
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from ..models import Account, AccountType, Category
from ..parties import Party


@transaction.atomic
def open_account(*, code: str, name: str, type: str, currency: str | None = None) -> Account:
    """The chart-of-accounts account `code`, created on first use; a different type is refused."""
    currency = currency or settings.LEDGER_CURRENCY
    account = Account.objects.filter(code=code).first()
    if account is None:
        account = Account(code=code, name=name, type=type, currency=currency)
        validate_fields(account)
        try:
            with refusals_as_field_errors(savepoint=True):
                account.save(force_insert=True)
        except IntegrityError:  # opened concurrently: use theirs
            account = Account.objects.get(code=code)
    if (account.type, account.currency) != (type, currency):
        raise Conflict(
            f"Account {code} exists as {account.type} in {account.currency}, not {type} in {currency}.",
            code="account_mismatch",
        )
    return account


def party_account_code(*, party: Party, category: str, type: str, currency: str) -> str:
    return f"{party.type}:{party.id}:{category or type}:{currency}"


@transaction.atomic
def open_party_account(
    *, party: Party, category: str, type: str = AccountType.ASSET, currency: str | None = None, name: str = ""
) -> Account:
    """The party's account for a category (its receivable) or, with category "", its credit."""
    currency = currency or settings.LEDGER_CURRENCY
    lookup = {"party_type": party.type, "party_id": party.id, "category": category, "type": type, "currency": currency}
    account = Account.objects.filter(**lookup).first()
    if account is not None:
        return account
    label = Category(category).label if category else "credit"
    account = Account(
        code=party_account_code(party=party, category=category, type=type, currency=currency),
        name=(name or f"{party}")[:150] + f" {label}",
        **lookup,
    )
    validate_fields(account)
    try:
        with refusals_as_field_errors(savepoint=True):
            account.save(force_insert=True)
    except IntegrityError:  # opened concurrently: use theirs
        account = Account.objects.get(**lookup)
    return account


_OPEN_PARTY_ACCOUNTS_SQL = """
INSERT INTO ledger_account (code, name, type, currency, party_type, party_id, category, is_active, created_at)
SELECT %(party_type)s || ':' || party_id || ':' || %(label)s || ':' || %(currency)s, name, %(type)s, %(currency)s,
       %(party_type)s, party_id, %(category)s, true, now()
  FROM unnest(%(party_ids)s::varchar[], %(names)s::varchar[]) AS given (party_id, name)
ON CONFLICT DO NOTHING
"""


@transaction.atomic
def open_party_accounts(
    *, party_type: str, parties: Sequence[tuple[str, str]], category: str, currency: str | None = None
) -> int:
    """Open the receivable (asset) account of `category` for many parties of one type at once:
    (party id, name) pairs; those that have one keep it. One statement (batch jobs that charge a
    new category); returns how many were opened. Codes and names as `open_party_account` gives."""
    if category not in Category.values:
        raise ValueError(f"unknown category {category!r}")
    if not parties:
        return 0
    currency = currency or settings.LEDGER_CURRENCY
    label = Category(category).label
    with connection.cursor() as cursor:
        cursor.execute(
            _OPEN_PARTY_ACCOUNTS_SQL,
            {
                "party_type": party_type,
                "label": category,
                "currency": currency,
                "type": AccountType.ASSET,
                "category": category,
                "party_ids": [party_id for party_id, _ in parties],
                "names": [f"{(name or f'{party_type}:{party_id}')[:150]} {label}" for party_id, name in parties],
            },
        )
        opened: int = cursor.rowcount
    return opened


@transaction.atomic
def set_account_active(*, account_id: int, is_active: bool) -> Account:
    """Close an account to new postings (or open it again); its history stays."""
    account = Account.objects.select_for_update().get(pk=account_id)
    if account.is_active != is_active:
        account.is_active = is_active
        account.save(update_fields=["is_active"])
    return account
