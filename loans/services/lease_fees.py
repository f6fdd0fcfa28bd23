"""Where a lease's weekly fee is billed: the set-based core of a run's lease-fees chunks.

Called inside a transaction of posting.py (a chunk, or one lease of a chunk that failed whole),
like claims.py for installments. It opens the LEASE receivables the chunk's drivers lack (one
statement), stages one charge per billable lease for the ledger with INSERT ... SELECT (Dr the
driver's LEASE receivable, Cr 4400 lease income), books them in one set-based write, records one
`LeaseCharge` per booked charge from the stage, and lets the credit the drivers hold pay the new
items. No lease passes through Python.

Exactly once: the entry's key "loans.lease:<lease id>:<week start>" is unique in the ledger, so a
concurrent run booking the same lease waits on the first's insert and then skips it (booked is
false, so it writes no LeaseCharge); the unique (lease, week) LeaseCharge row refuses a second
charge even if that were bypassed. No lease row is locked: a change of fee meanwhile applies
from the next week.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ledger import services as ledger
from ledger.models import Category

from .. import accounts
from ..models import DRIVER_PARTY_TYPE, LEASE_FEE_SOURCE, InstallmentPostingRun
from .claims import Booked, apply_credit
from .targets import PostingChunk

_BILLABLE_SQL = """
  FROM loans_lease l
 WHERE l.weekly_fee > 0 AND l.start_date <= %(period_end)s
   AND (l.end_date IS NULL OR l.end_date >= %(period_start)s)
   AND NOT EXISTS (SELECT 1 FROM loans_leasecharge c WHERE c.lease_id = l.id AND c.week_start = %(period_start)s)
   AND {where}
"""
_DRIVERS_WITHOUT_RECEIVABLE_SQL = (
    """
SELECT DISTINCT d.id, d.full_name FROM loans_driver d
 WHERE d.id IN (SELECT l.driver_id"""
    + _BILLABLE_SQL
    + """)
   AND NOT EXISTS (SELECT 1 FROM ledger_account a
                    WHERE a.party_type = %(party_type)s AND a.party_id = d.id::text AND a.category = %(category)s
                      AND a.type = 'asset' AND a.currency = %(currency)s)
 ORDER BY d.id
"""
)
_STAGE_LEASES_SQL = (
    """
INSERT INTO {charges} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id, caller_id)
SELECT 'loans.lease:' || l.id || ':' || to_char(%(period_start)s::date, 'YYYY-MM-DD'), %(period_start)s, %(period_start)s,
       'Lease ' || l.lease_number || ' fee, week of ' || to_char(%(period_start)s::date, 'YYYY-MM-DD'),
       left(l.lease_number || ' ' || to_char(%(period_start)s::date, 'YYYY-MM-DD'), 100), a.id, l.id
"""
    + _BILLABLE_SQL.replace(
        "  FROM loans_lease l\n",
        """  FROM loans_lease l
  JOIN ledger_account a ON a.party_type = %(party_type)s AND a.party_id = l.driver_id::text
                       AND a.category = %(category)s AND a.type = 'asset' AND a.currency = %(currency)s
""",
    )
    + " ORDER BY l.id"
)
_STAGE_CREDITS_SQL = """
INSERT INTO {credits} (idempotency_key, account_id, amount)
SELECT s.idempotency_key, %(income_account)s, l.weekly_fee FROM {charges} s JOIN loans_lease l ON l.id = s.caller_id
"""
_RECORD_CHARGES_SQL = """
INSERT INTO loans_leasecharge (lease_id, week_start, amount, entry_id, posting_run_id, created_at)
SELECT s.caller_id, %(period_start)s, s.amount, s.entry_id, %(run)s, %(now)s FROM {charges} s WHERE s.booked
"""


def bill_lease_fees(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None = None, lease_ids: Sequence[int] | None = None
) -> Booked:
    """Bill the week's fee of the chunk's (or these) leases that are still to bill."""
    where, params = _sql_target(run, chunk, lease_ids)
    params.update(party_type=DRIVER_PARTY_TYPE, category=Category.LEASE, currency=settings.LEDGER_CURRENCY)
    with connection.cursor() as cursor:
        cursor.execute(_DRIVERS_WITHOUT_RECEIVABLE_SQL.format(where=where), params)
        missing = cursor.fetchall()
    if missing:
        ledger.open_party_accounts(
            parties=[(accounts.driver_party(driver_id), name) for driver_id, name in missing], category=Category.LEASE
        )
    charges, credits = ledger.stage_charges()
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_LEASES_SQL.format(charges=charges, where=where), params)
        staged = cursor.rowcount
        if not staged:
            return Booked()
        cursor.execute(
            _STAGE_CREDITS_SQL.format(charges=charges, credits=credits),
            {"income_account": accounts.lease_income_account().pk},
        )
        booked, amount = ledger.post_staged_charges(source=LEASE_FEE_SOURCE, created_by=run.started_by)
        cursor.execute(
            _RECORD_CHARGES_SQL.format(charges=charges),
            {"period_start": run.period_start, "run": run.pk, "now": timezone.now()},
        )
    apply_credit(ledger.staged_parties_with_credit() if booked else [], created_by=run.started_by)
    return Booked(claimed=staged, posted=booked, amount=amount)


def billable_lease_ids(run: InstallmentPostingRun, *, chunk: PostingChunk) -> list[int]:
    """The chunk's leases still to bill (the one-by-one fallback's candidates)."""
    where, params = _sql_target(run, chunk, None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT l.id" + _BILLABLE_SQL.format(where=where) + " ORDER BY l.id", params)
        return [row[0] for row in cursor.fetchall()]


def _sql_target(
    run: InstallmentPostingRun, chunk: PostingChunk | None, lease_ids: Sequence[int] | None
) -> tuple[str, dict]:
    params: dict = {"period_start": run.period_start, "period_end": run.period_end}
    if chunk is not None:
        where = "l.id >= %(first_id)s"
        params["first_id"] = chunk.first_id
        if chunk.next_id is not None:
            where += " AND l.id < %(next_id)s"
            params["next_id"] = chunk.next_id
    else:
        where, params["lease_ids"] = "l.id = ANY(%(lease_ids)s)", list(lease_ids or ())
    return where, params
