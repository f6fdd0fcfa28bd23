"""Set-based booking of many charges at once (the weekly posting books up to a million).

The charges of a batch are staged in two temporary tables of the transaction, checked and booked
by a few statements whatever their number: entries, their legs and their open items, with
`ON CONFLICT (idempotency_key) DO NOTHING`, so a key that is already booked (by an earlier run, or
by a concurrent one that commits first) is linked instead of booked twice. A caller whose rows
are in the database fills the stage with INSERT ... SELECT from its own tables, so no row passes
through Python; `stage_given_charges` stages Charge values instead (services.post_charges).

  ledger_staged_charge (idempotency_key, entry_date, due_date, description, reference,
                        receivable_account_id, caller_id)      -- one row per charge
  ledger_staged_credit (idempotency_key, account_id, amount)   -- its credits

After booking, `entry_id` is set on every staged charge (its new entry, or the entry that already
had its key, then `booked` is false), so the caller can update its rows from the table. The
database triggers check balance at commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection

from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import DomainError

from .inputs import Charge, PostedCharge

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
    -- Ids in a fixed order: payments pay items of the same due date by id, so the order of a batch
    -- must not depend on the join's plan (same day: by reference, the older loan's item first).
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT receivable_account_id, entry_id, amount, amount, due_date, 'open', reference FROM charges
     ORDER BY due_date, reference, idempotency_key
)
UPDATE {STAGED_CHARGES} s SET entry_id = b.id, booked = true FROM booked b WHERE b.idempotency_key = s.idempotency_key
"""

_LINK_ALREADY_BOOKED_SQL = f"""
UPDATE {STAGED_CHARGES} s SET entry_id = e.id
  FROM ledger_journalentry e
 WHERE s.entry_id IS NULL AND e.idempotency_key = s.idempotency_key
"""


_STAGE_GIVEN_SQL = f"""
WITH charges AS (
    INSERT INTO {STAGED_CHARGES} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id)
    SELECT * FROM unnest(%(keys)b::varchar[], %(entry_dates)b::date[], %(due_dates)b::date[], %(descriptions)b::varchar[],
                         %(references)b::varchar[], %(receivables)b::bigint[])
)
INSERT INTO {STAGED_CREDITS} (idempotency_key, account_id, amount)
SELECT * FROM unnest(%(credit_keys)b::varchar[], %(credit_accounts)b::bigint[], %(credit_amounts)b::numeric[])
"""

_BOOKED_SQL = f"""
SELECT s.idempotency_key, s.entry_id, o.id FROM {STAGED_CHARGES} s JOIN ledger_openitem o ON o.entry_id = s.entry_id
 WHERE s.booked
"""


def open_charge_staging() -> None:
    """Create (or empty) the transaction's staging tables; they are dropped at commit."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)


def stage_given_charges(charges: Sequence[Charge]) -> None:
    """Stage these charges and their credits (one statement)."""
    credits = [
        (charge.idempotency_key, account_id, amount) for charge in charges for account_id, amount in charge.credits
    ]
    execute_with_bound_parameters(
        _STAGE_GIVEN_SQL,
        {
            "keys": [charge.idempotency_key for charge in charges],
            "entry_dates": [charge.entry_date for charge in charges],
            "due_dates": [charge.due_date for charge in charges],
            "descriptions": [charge.description[:255] for charge in charges],
            "references": [charge.reference for charge in charges],
            "receivables": [charge.receivable_account_id for charge in charges],
            "credit_keys": [key for key, _, _ in credits],
            "credit_accounts": [account_id for _, account_id, _ in credits],
            "credit_amounts": [amount for _, _, amount in credits],
        },
    )


def booked_charges() -> dict[str, PostedCharge]:
    """After `book_staged_charges`: the staged charges booked now, with their entry and open item."""
    with connection.cursor() as cursor:
        cursor.execute(_BOOKED_SQL)
        return {
            key: PostedCharge(entry_id=entry_id, open_item_id=item_id) for key, entry_id, item_id in cursor.fetchall()
        }


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
        return [(party_type, party_id, currency) for party_type, party_id, currency in cursor.fetchall()]
