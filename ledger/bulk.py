"""Set-based writes of many charges at once (the weekly posting books up to a million).

On PostgreSQL one statement writes a whole batch: entries, their legs and their open items, with
`ON CONFLICT (idempotency_key) DO NOTHING`, so a key that is already booked (by an earlier run, or
by a concurrent one that commits first) is skipped instead of booked twice. Elsewhere (SQLite,
where one writer holds the database at a time) the ORM does the same with bulk_create.

Callers validate first (services.post_charges); the database triggers check balance at commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from loanproject.core.money import ZERO

from .inputs import Charge, PostedCharge
from .models import JournalEntry, OpenItem, OpenItemStatus, Posting

_POSTGRES_SQL = """
WITH entries AS (
    INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_by_id, created_at)
    SELECT c.key, c.entry_date, c.description, %(source)s, %(created_by)s, %(now)s
      FROM unnest(%(keys)s::varchar[], %(entry_dates)s::date[], %(descriptions)s::varchar[])
           AS c(key, entry_date, description)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), legs AS (
    INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
    SELECT e.id, l.account_id, l.debit, l.credit, l.currency
      FROM unnest(%(leg_keys)s::varchar[], %(leg_accounts)s::bigint[], %(leg_debits)s::numeric[],
                  %(leg_credits)s::numeric[], %(leg_currencies)s::varchar[])
           AS l(key, account_id, debit, credit, currency)
      JOIN entries e ON e.idempotency_key = l.key
), items AS (
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT i.account_id, e.id, i.amount, i.amount, i.due_date, 'open', i.reference
      FROM unnest(%(keys)s::varchar[], %(receivables)s::bigint[], %(amounts)s::numeric[],
                  %(due_dates)s::date[], %(references)s::varchar[])
           AS i(key, account_id, amount, due_date, reference)
      JOIN entries e ON e.idempotency_key = i.key
    RETURNING id, entry_id
)
SELECT e.idempotency_key, e.id, i.id FROM entries e JOIN items i ON i.entry_id = e.id
"""


def write_charges(
    charges: Sequence[Charge], *, currencies: dict[int, str], source: str, created_by_id: int | None, now: datetime
) -> dict[str, PostedCharge]:
    """Book the charges whose key is new; returns {key: PostedCharge} for those only."""
    if not charges:
        return {}
    if connection.vendor == "postgresql":
        return _write_with_one_statement(charges, currencies=currencies, source=source, created_by_id=created_by_id, now=now)
    return write_charges_with_orm(charges, currencies=currencies, source=source, created_by_id=created_by_id, now=now)


def _write_with_one_statement(
    charges: Sequence[Charge], *, currencies: dict[int, str], source: str, created_by_id: int | None, now: datetime
) -> dict[str, PostedCharge]:
    leg_keys, leg_accounts, leg_debits, leg_credits, leg_currencies = [], [], [], [], []
    amounts = []
    zero = ZERO
    for charge in charges:
        amount = charge.amount
        amounts.append(amount)
        currency = currencies[charge.receivable_account_id]
        leg_keys.append(charge.idempotency_key)
        leg_accounts.append(charge.receivable_account_id)
        leg_debits.append(amount)
        leg_credits.append(zero)
        leg_currencies.append(currency)
        for account_id, credit in charge.credits:
            leg_keys.append(charge.idempotency_key)
            leg_accounts.append(account_id)
            leg_debits.append(zero)
            leg_credits.append(credit)
            leg_currencies.append(currency)
    params = {
        "source": source,
        "created_by": created_by_id,
        "now": now,
        "keys": [charge.idempotency_key for charge in charges],
        "entry_dates": [charge.entry_date for charge in charges],
        "descriptions": [charge.description for charge in charges],
        "leg_keys": leg_keys,
        "leg_accounts": leg_accounts,
        "leg_debits": leg_debits,
        "leg_credits": leg_credits,
        "leg_currencies": leg_currencies,
        "receivables": [charge.receivable_account_id for charge in charges],
        "amounts": amounts,
        "due_dates": [charge.due_date for charge in charges],
        "references": [charge.reference for charge in charges],
    }
    with connection.cursor() as cursor:
        cursor.execute(_POSTGRES_SQL, params)
        return {key: PostedCharge(entry_id=entry_id, open_item_id=item_id) for key, entry_id, item_id in cursor.fetchall()}


def write_charges_with_orm(
    charges: Sequence[Charge], *, currencies: dict[int, str], source: str, created_by_id: int | None, now: datetime
) -> dict[str, PostedCharge]:
    """The portable path: skip known keys, then bulk_create entries, legs and items."""
    keys = [charge.idempotency_key for charge in charges]
    booked = set(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    fresh = [charge for charge in charges if charge.idempotency_key not in booked]
    entries = JournalEntry.objects.bulk_create(
        JournalEntry(
            idempotency_key=charge.idempotency_key,
            entry_date=charge.entry_date,
            description=charge.description,
            source=source,
            created_by_id=created_by_id,
            created_at=now,
        )
        for charge in fresh
    )
    postings, items = [], []
    for charge, entry in zip(fresh, entries, strict=True):
        currency = currencies[charge.receivable_account_id]
        postings.append(Posting(entry=entry, account_id=charge.receivable_account_id, debit=charge.amount, currency=currency))
        postings.extend(
            Posting(entry=entry, account_id=account_id, credit=amount, currency=currency)
            for account_id, amount in charge.credits
        )
        items.append(
            OpenItem(
                account_id=charge.receivable_account_id,
                entry=entry,
                amount=charge.amount,
                outstanding=charge.amount,
                due_date=charge.due_date,
                status=OpenItemStatus.OPEN,
                reference=charge.reference,
            )
        )
    Posting.objects.bulk_create(postings)
    OpenItem.objects.bulk_create(items)
    return {
        charge.idempotency_key: PostedCharge(entry_id=entry.pk, open_item_id=item.pk)
        for charge, entry, item in zip(fresh, entries, items, strict=True)
    }
