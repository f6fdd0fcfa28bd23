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
from decimal import Decimal

from django.db import connection

from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO

from .inputs import Charge, PostedCharge
from .models import JournalEntry, OpenItem, OpenItemStatus, Posting

_POSTGRES_SQL = """
WITH entries AS (
    INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_by_id, created_at)
    SELECT c.key, c.entry_date, c.description, %(source)b, %(created_by)b, %(now)b
      FROM unnest(%(keys)b::varchar[], %(entry_dates)b::date[], %(descriptions)b::varchar[])
           AS c(key, entry_date, description)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), legs AS (
    INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
    SELECT e.id, l.account_id, l.debit, l.credit, l.currency
      FROM unnest(%(leg_keys)b::varchar[], %(leg_accounts)b::bigint[], %(leg_debits)b::numeric[],
                  %(leg_credits)b::numeric[], %(leg_currencies)b::varchar[])
           AS l(key, account_id, debit, credit, currency)
      JOIN entries e ON e.idempotency_key = l.key
), items AS (
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT i.account_id, e.id, i.amount, i.amount, i.due_date, 'open', i.reference
      FROM unnest(%(keys)b::varchar[], %(receivables)b::bigint[], %(amounts)b::numeric[],
                  %(due_dates)b::date[], %(references)b::varchar[])
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
    rows = execute_with_bound_parameters(_POSTGRES_SQL, params)
    return {key: PostedCharge(entry_id=entry_id, open_item_id=item_id) for key, entry_id, item_id in rows}


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


# --- Staged charges (PostgreSQL) -------------------------------------------------------------
#
# For the biggest batches even the arrays above cost too much: every value passes through Python
# twice. A caller can instead fill two temporary tables with INSERT ... SELECT from its own tables
# and let `post_staged_charges` book them: no row ever leaves the database.
#
#   ledger_staged_charge (idempotency_key, entry_date, due_date, description, reference,
#                         receivable_account_id, caller_id)      -- one row per charge
#   ledger_staged_credit (idempotency_key, account_id, amount)   -- its credits
#
# After booking, `entry_id` is set on every staged charge (its new entry, or the entry that
# already had its key, then `booked` is false), so the caller can update its rows from the table.

STAGED_CHARGES = "ledger_staged_charge"
STAGED_CREDITS = "ledger_staged_credit"

_STAGING_DDL = f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGED_CHARGES} (
    idempotency_key varchar(200) PRIMARY KEY,
    entry_date date NOT NULL,
    due_date date NOT NULL,
    description varchar(255) NOT NULL,
    reference varchar(100) NOT NULL DEFAULT '',
    receivable_account_id bigint NOT NULL,
    caller_id bigint,
    currency varchar(3),
    amount numeric,
    entry_id bigint,
    booked boolean NOT NULL DEFAULT false
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS {STAGED_CREDITS} (
    idempotency_key varchar(200) NOT NULL,
    account_id bigint NOT NULL,
    amount numeric NOT NULL
) ON COMMIT DROP;
TRUNCATE {STAGED_CHARGES}, {STAGED_CREDITS};
"""

_STAGED_TOTALS_SQL = f"""
ANALYZE {STAGED_CHARGES};
ANALYZE {STAGED_CREDITS};
UPDATE {STAGED_CHARGES} s SET currency = a.currency, amount = c.total
  FROM ledger_account a,
       (SELECT idempotency_key, sum(amount) AS total FROM {STAGED_CREDITS} GROUP BY idempotency_key) c
 WHERE a.id = s.receivable_account_id AND c.idempotency_key = s.idempotency_key;
"""

_STAGED_PROBLEM_SQL = f"""
SELECT s.idempotency_key,
       CASE WHEN a.id IS NULL OR a.type <> 'asset' THEN 'the receivable account must be an existing asset account'
            WHEN NOT a.is_active THEN 'account ' || a.id || ' is closed to new postings'
            ELSE 'a charge needs at least one credit' END
  FROM {STAGED_CHARGES} s LEFT JOIN ledger_account a ON a.id = s.receivable_account_id
 WHERE a.id IS NULL OR a.type <> 'asset' OR NOT a.is_active OR s.amount IS NULL
UNION ALL
SELECT c.idempotency_key,
       CASE WHEN s.idempotency_key IS NULL THEN 'a credit without its charge'
            WHEN c.amount <= 0 OR c.amount <> round(c.amount, 2) THEN 'a credit must be positive, in cents: ' || c.amount
            WHEN a.id IS NULL OR a.currency <> s.currency THEN 'credit account ' || c.account_id || ' is missing or in another currency'
            ELSE 'account ' || a.id || ' is closed to new postings' END
  FROM {STAGED_CREDITS} c
  LEFT JOIN {STAGED_CHARGES} s ON s.idempotency_key = c.idempotency_key
  LEFT JOIN ledger_account a ON a.id = c.account_id
 WHERE s.idempotency_key IS NULL OR c.amount <= 0 OR c.amount <> round(c.amount, 2)
       OR a.id IS NULL OR a.currency IS DISTINCT FROM s.currency OR NOT a.is_active
 LIMIT 1
"""

_STAGED_BOOKING_SQL = f"""
WITH booked AS (
    INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_by_id, created_at)
    SELECT idempotency_key, entry_date, description, %(source)s, %(created_by)s, %(now)s FROM {STAGED_CHARGES}
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), charges AS (
    SELECT b.id AS entry_id, s.receivable_account_id, s.amount, s.currency, s.due_date, s.reference, s.idempotency_key
      FROM booked b JOIN {STAGED_CHARGES} s ON s.idempotency_key = b.idempotency_key
), legs AS (
    INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
    SELECT entry_id, receivable_account_id, amount, 0, currency FROM charges
    UNION ALL
    SELECT ch.entry_id, c.account_id, 0, c.amount, ch.currency
      FROM charges ch JOIN {STAGED_CREDITS} c ON c.idempotency_key = ch.idempotency_key
), items AS (
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT receivable_account_id, entry_id, amount, amount, due_date, 'open', reference FROM charges
)
UPDATE {STAGED_CHARGES} s SET entry_id = b.id, booked = true FROM booked b WHERE b.idempotency_key = s.idempotency_key
"""

_LINK_ALREADY_BOOKED_SQL = f"""
UPDATE {STAGED_CHARGES} s SET entry_id = e.id
  FROM ledger_journalentry e
 WHERE s.entry_id IS NULL AND e.idempotency_key = s.idempotency_key
"""


def open_charge_staging() -> None:
    """Create (or empty) the transaction's staging tables; they are dropped at commit."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)


def book_staged_charges(*, source: str, created_by_id: int | None, now: datetime) -> tuple[int, Decimal]:
    """Validate and book the staged charges; returns (charges booked now, their total)."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGED_TOTALS_SQL)
        cursor.execute(_STAGED_PROBLEM_SQL)
        problem = cursor.fetchone()
        if problem is not None:
            key, reason = problem
            raise DomainError(f"{key}: {reason}.", code="bad_charge")
        cursor.execute(_STAGED_BOOKING_SQL, {"source": source, "created_by": created_by_id, "now": now})
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {STAGED_CHARGES} WHERE entry_id IS NULL)")
        if cursor.fetchone()[0]:  # keys booked before: link them (joined only when there are some)
            cursor.execute(_LINK_ALREADY_BOOKED_SQL)
        cursor.execute(f"SELECT count(*), coalesce(sum(amount), 0) FROM {STAGED_CHARGES} WHERE booked")
        booked_count, amount = cursor.fetchone()
    return booked_count, amount


# Credit accounts are looked up by their unique (party, category, type, currency) index, one probe
# per distinct receivable of the batch; a balance is summed only for the few parties that have one.
_STAGED_PARTIES_WITH_CREDIT_SQL = f"""
SELECT DISTINCT c.party_type, c.party_id, c.currency
  FROM (SELECT DISTINCT receivable_account_id FROM {STAGED_CHARGES} WHERE booked) s
  JOIN ledger_account r ON r.id = s.receivable_account_id
  JOIN ledger_account c ON c.party_type = r.party_type AND c.party_id = r.party_id AND c.currency = r.currency
                       AND c.category = '' AND c.type = 'liability' AND c.party_type <> '' AND c.is_active
 WHERE r.party_type <> ''
   AND (SELECT coalesce(sum(p.credit), 0) - coalesce(sum(p.debit), 0) FROM ledger_posting p WHERE p.account_id = c.id) > 0
 ORDER BY c.party_type, c.party_id, c.currency
"""


def staged_parties_with_credit() -> list[tuple[str, str, str]]:
    """(party type, party id, currency) of the parties charged by the staged batch that hold credit."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGED_PARTIES_WITH_CREDIT_SQL)
        return cursor.fetchall()
