"""Where an installment is posted: the set-based core of the weekly posting.

Called inside a transaction of posting.py (a chunk, one installment, or the final sweep), which
keeps the run's records. A claim stages the target's installments that are still to post for the
ledger with INSERT ... SELECT ... FOR UPDATE (in (due date, id) order, skipping rows another
transaction holds unless asked to wait), books them in one set-based write, marks them posted
from the stage, and lets the credit their drivers hold pay the new items. No installment passes
through Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from ledger import services as ledger
from ledger.parties import Party
from loanproject.core.metrics import increment_after_commit
from loanproject.core.money import ZERO

from .. import accounts
from ..metrics import INSTALLMENTS_POSTED
from ..models import DRIVER_PARTY_TYPE, POSTING_SOURCE, InstallmentPostingRun
from ..periods import business_today
from .loans import close_settled_loans
from .targets import PostingChunk

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(frozen=True)
class Booked:
    claimed: int = 0
    posted: int = 0
    amount: Decimal = ZERO


def post_claimed(
    run: InstallmentPostingRun,
    *,
    chunk: PostingChunk | None = None,
    installment_ids: Sequence[int] | None = None,
    wait_for_locks: bool = False,
) -> Booked:
    """Claim a chunk (or the given installments) and post what is still due."""
    charges, credits = ledger.stage_charges()
    where, params = _sql_target(run, chunk, installment_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            _STAGE_INSTALLMENTS_SQL.format(charges=charges, where=where, skip="" if wait_for_locks else "SKIP LOCKED"),
            params,
        )
        claimed = cursor.rowcount
        if not claimed:
            return Booked()
        cursor.execute(
            _STAGE_CREDITS_SQL.format(charges=charges, credits=credits),
            {
                "principal_account": accounts.principal_account().pk,
                "interest_account": accounts.interest_income_account().pk,
            },
        )
        posted, amount = ledger.post_staged_charges(source=POSTING_SOURCE, created_by=run.started_by)
        cursor.execute(_MARK_STAGED_POSTED_SQL.format(charges=charges), {"now": timezone.now(), "run": run.pk})
    increment_after_commit(INSTALLMENTS_POSTED, posted)
    apply_credit(ledger.staged_parties_with_credit() if posted else [], created_by=run.started_by)
    return Booked(claimed=claimed, posted=posted, amount=amount)


def still_due_ids(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None = None, installment_ids: Sequence[int] | None = None
) -> list[int]:
    """The target's installments still to post, without locking: after a claim in the same
    transaction, these are the rows another transaction held."""
    where, params = _sql_target(run, chunk, installment_ids)
    with connection.cursor() as cursor:
        cursor.execute(_STILL_DUE_SQL.format(where=where), params)
        return [row[0] for row in cursor.fetchall()]


def settle_deferred_checks() -> None:
    """Run the deferred constraint checks (balance, foreign keys) now rather than at COMMIT:
    a bad row fails inside the caller's try block, and the run's row is locked only for the short
    rest. Deferral is switched back on at once for whatever the transaction writes next."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def lock_timeout(milliseconds: int) -> Iterator[None]:
    """Wait at most this long for a row lock in this transaction; a statement that
    waits longer fails and its savepoint rolls back, the old setting with it. Use it inside a
    savepoint (`transaction.atomic()`): after a failed statement nothing more can run to restore
    the setting, so the rollback of that savepoint is what restores it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"]
        )
        previous = cursor.fetchone()[0]
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


# The claim, staged for the ledger; the stage is also what marks the installments posted.
_DUE_SQL = """
  FROM loans_installment i JOIN loans_driverloan l ON l.id = i.loan_id
 WHERE i.status = 'scheduled' AND i.due_date <= %(period_end)s AND l.status = 'active'
   AND {where}
"""
_STAGE_INSTALLMENTS_SQL = (
    """
INSERT INTO {charges} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id, caller_id)
SELECT 'loans.installment:' || i.id || ':' || i.posting_attempt, i.due_date, i.due_date,
       l.loan_number || ' installment ' || i.sequence || '/' || l.installment_count,
       l.loan_number || ' #' || i.sequence, l.receivable_account_id, i.id
"""
    + _DUE_SQL
    + """
 ORDER BY i.due_date, i.id
   FOR UPDATE OF i {skip}
"""
)
_STILL_DUE_SQL = "SELECT i.id" + _DUE_SQL + " ORDER BY i.due_date, i.id"
_STAGE_CREDITS_SQL = """
INSERT INTO {credits} (idempotency_key, account_id, amount)
SELECT s.idempotency_key, %(principal_account)s, i.principal FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
 WHERE i.principal > 0  -- none in a principal grace period: interest only
UNION ALL
SELECT s.idempotency_key, %(interest_account)s, i.interest FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
 WHERE i.interest > 0
"""
_MARK_STAGED_POSTED_SQL = """
UPDATE loans_installment i SET status = 'posted', posted_entry_id = s.entry_id, posted_at = %(now)s, posting_run_id = %(run)s
  FROM {charges} s WHERE i.id = s.caller_id
"""


def _sql_target(
    run: InstallmentPostingRun, chunk: PostingChunk | None, installment_ids: Sequence[int] | None
) -> tuple[str, dict]:
    params: dict = {"period_end": run.period_end}
    if chunk is not None:
        # Row comparisons: one range scan of the (due_date, id) index of unposted installments.
        where = "(i.due_date, i.id) >= (%(first_due)s, %(first_id)s)"
        params.update(first_due=chunk.first_due, first_id=chunk.first_id)
        if chunk.next_due is not None:
            where += " AND (i.due_date, i.id) < (%(next_due)s, %(next_id)s)"
            params.update(next_due=chunk.next_due, next_id=chunk.next_id)
    else:
        where, params["installment_ids"] = "i.id = ANY(%(installment_ids)s)", list(installment_ids or ())
    if run.loan_ids is not None:
        where += " AND i.loan_id = ANY(%(loan_ids)s)"
        params["loan_ids"] = list(run.loan_ids)
    return where, params


# --- Credit ----------------------------------------------------------------------------------------


def apply_credit(parties: list[tuple[Party, str]], *, created_by: User | None) -> None:
    """A driver who paid ahead holds credit: it pays the items just posted (installments, lease
    fees, imported charges), and may settle loans.

    Found with one query per batch (most drivers hold none). Locks: installments (the claim), then
    the credit account and open items (the ledger), then loans: the order every other writer
    follows, so nothing deadlocks.
    """
    for party, currency in parties:
        if party.type != DRIVER_PARTY_TYPE:
            continue
        applied = ledger.apply_party_credit(
            party=party, currency=currency, applied_on=business_today(), created_by=created_by
        )
        if applied is not None:
            close_settled_loans(driver_id=int(party.id))
