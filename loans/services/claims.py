"""Claiming due installments and booking them: the set-based core of the weekly posting.

Called inside a transaction of posting.py (a chunk, one installment, or the final sweep), which
keeps the run's records. A claim locks the target's installments that are still to post
(SELECT ... FOR UPDATE, skipping rows another transaction holds unless asked to wait), books
them in one write, marks them posted, and lets the credit their drivers hold pay the new items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ledger import selectors as ledger_selectors
from ledger import services as ledger
from ledger.inputs import Charge
from ledger.models import JournalEntry
from ledger.parties import Party
from loanproject.core.money import ZERO

from .. import accounts
from ..models import DRIVER_PARTY_TYPE, POSTING_SOURCE, Installment, InstallmentPostingRun, InstallmentStatus, posting_key
from ..periods import business_today
from .loans import close_settled_loans
from .targets import PostingChunk, due_installments


@dataclass(frozen=True)
class Booked:
    claimed: int = 0
    posted: int = 0
    amount: Decimal = ZERO


def stages_in_sql() -> bool:
    """PostgreSQL posts through staging tables; other databases through Python rows."""
    return connection.vendor == "postgresql"


def post_claimed(
    run: InstallmentPostingRun,
    *,
    chunk: PostingChunk | None = None,
    installment_ids: Sequence[int] | None = None,
    wait_for_locks: bool = False,
) -> Booked:
    """Claim a chunk (or the given installments) and post what is still due."""
    if stages_in_sql():
        return _post_claimed_in_sql(run, chunk=chunk, installment_ids=installment_ids, wait_for_locks=wait_for_locks)
    rows = list(_claim(run, _bounds(chunk, installment_ids), wait_for_locks=wait_for_locks))
    posted, amount, receivables = _post_rows(run, rows)
    _apply_credit(ledger_selectors.parties_with_credit(receivable_account_ids=receivables) if receivables else [], run=run)
    return Booked(claimed=len(rows), posted=posted, amount=amount)


def still_due_ids(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None = None, installment_ids: Sequence[int] | None = None
) -> list[int]:
    """The target's installments still to post, without locking: after a claim in the same
    transaction, these are the rows another transaction held."""
    if stages_in_sql():
        where, params = _sql_target(run, chunk, installment_ids)
        with connection.cursor() as cursor:
            cursor.execute(_STILL_DUE_SQL.format(where=where), params)
            return [row[0] for row in cursor.fetchall()]
    return list(
        due_installments(period_end=run.period_end, loan_ids=run.loan_ids)
        .filter(_bounds(chunk, installment_ids))
        .order_by("due_date", "id")
        .values_list("id", flat=True)
    )


def settle_deferred_checks() -> None:
    """Run the deferred constraint checks (balance, foreign keys) now rather than at COMMIT:
    a bad row fails inside the caller's try block, and the run's row is locked only for the short
    rest. Deferral is switched back on at once for whatever the transaction writes next."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def lock_timeout(milliseconds: int) -> Iterator[None]:
    """Wait at most this long for a row lock in this transaction (PostgreSQL); a statement that
    waits longer fails and its savepoint rolls back, the old setting with it. Use it inside a
    savepoint (`transaction.atomic()`): after a failed statement nothing more can run to restore
    the setting, so the rollback of that savepoint is what restores it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"])
        previous = cursor.fetchone()[0]
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def _bounds(chunk: PostingChunk | None, installment_ids: Sequence[int] | None) -> Q:
    return chunk.bounds() if chunk is not None else Q(pk__in=list(installment_ids or ()))


# --- The portable path (SQLite) -----------------------------------------------------------------


def _claim(run: InstallmentPostingRun, bounds: Q, *, wait_for_locks: bool):
    return (
        due_installments(period_end=run.period_end, loan_ids=run.loan_ids)
        .filter(bounds)
        .select_for_update(skip_locked=not wait_for_locks, of=("self",))
        .order_by("due_date", "id")
        .values_list(
            "id", "sequence", "due_date", "principal", "interest", "posting_attempt",
            "loan__loan_number", "loan__installment_count", "loan__receivable_account_id",
        )
    )


def _charges(rows, *, principal_account_id: int, interest_account_id: int) -> list[Charge]:
    charges = []
    for installment_id, sequence, due, principal, interest, attempt, loan_number, count, receivable_id in rows:
        credits = ((principal_account_id, principal), (interest_account_id, interest)) if interest else ((principal_account_id, principal),)
        charges.append(
            Charge(
                idempotency_key=posting_key(installment_id, attempt),
                entry_date=due,
                due_date=due,
                description=f"{loan_number} installment {sequence}/{count}",
                receivable_account_id=receivable_id,
                credits=credits,
                reference=f"{loan_number} #{sequence}",
            )
        )
    return charges


def _post_rows(run: InstallmentPostingRun, rows: list) -> tuple[int, Decimal, set[int]]:
    """Book the claimed rows and mark them posted; returns (newly posted, their amount, the
    receivable accounts charged)."""
    if not rows:
        return 0, ZERO, set()
    charges = _charges(
        rows, principal_account_id=accounts.principal_account().pk, interest_account_id=accounts.interest_income_account().pk
    )
    booked = ledger.post_charges(charges=charges, source=POSTING_SOURCE, created_by=run.started_by)
    entry_of = {key: posted.entry_id for key, posted in booked.items()}
    already = [charge.idempotency_key for charge in charges if charge.idempotency_key not in entry_of]
    if already:
        # Booked earlier but the installment was not marked (should never happen): link, don't rebook.
        entry_of.update(JournalEntry.objects.filter(idempotency_key__in=already).values_list("idempotency_key", "pk"))
    pairs = [(row[0], entry_of[charge.idempotency_key]) for row, charge in zip(rows, charges, strict=True)]
    now = timezone.now()
    for installment_id, entry_id in pairs:
        Installment.objects.filter(pk=installment_id).update(
            status=InstallmentStatus.POSTED, posted_entry_id=entry_id, posted_at=now, posting_run_id=run.pk
        )
    amount = sum((charge.amount for charge in charges if charge.idempotency_key in booked), ZERO)
    receivables = {charge.receivable_account_id for charge in charges if charge.idempotency_key in booked}
    return len(booked), amount, receivables


# --- PostgreSQL: no installment passes through Python -------------------------------------------
# The claimed rows are staged for the ledger with INSERT ... SELECT ... FOR UPDATE [SKIP LOCKED],
# booked set-based, and marked from the stage.

_DUE_SQL = """
  FROM loans_installment i JOIN loans_driverloan l ON l.id = i.loan_id
 WHERE i.status = 'scheduled' AND i.due_date <= %(period_end)s AND l.status = 'active'
   AND {where}
"""
_STAGE_INSTALLMENTS_SQL = """
INSERT INTO {charges} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id, caller_id)
SELECT 'loans.installment:' || i.id || ':' || i.posting_attempt, i.due_date, i.due_date,
       l.loan_number || ' installment ' || i.sequence || '/' || l.installment_count,
       l.loan_number || ' #' || i.sequence, l.receivable_account_id, i.id
""" + _DUE_SQL + """
 ORDER BY i.due_date, i.id
   FOR UPDATE OF i {skip}
"""
_STILL_DUE_SQL = "SELECT i.id" + _DUE_SQL + " ORDER BY i.due_date, i.id"
_STAGE_CREDITS_SQL = """
INSERT INTO {credits} (idempotency_key, account_id, amount)
SELECT s.idempotency_key, %(principal_account)s, i.principal FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
UNION ALL
SELECT s.idempotency_key, %(interest_account)s, i.interest FROM {charges} s JOIN loans_installment i ON i.id = s.caller_id
 WHERE i.interest > 0
"""
_MARK_STAGED_POSTED_SQL = """
UPDATE loans_installment i SET status = 'posted', posted_entry_id = s.entry_id, posted_at = %(now)s, posting_run_id = %(run)s
  FROM {charges} s WHERE i.id = s.caller_id
"""


def _sql_target(run: InstallmentPostingRun, chunk: PostingChunk | None, installment_ids: Sequence[int] | None) -> tuple[str, dict]:
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


def _post_claimed_in_sql(
    run: InstallmentPostingRun, *, chunk: PostingChunk | None, installment_ids: Sequence[int] | None, wait_for_locks: bool
) -> Booked:
    charges, credits = ledger.stage_charges()
    where, params = _sql_target(run, chunk, installment_ids)
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_INSTALLMENTS_SQL.format(charges=charges, where=where, skip="" if wait_for_locks else "SKIP LOCKED"), params)
        claimed = cursor.rowcount
        if not claimed:
            return Booked()
        cursor.execute(
            _STAGE_CREDITS_SQL.format(charges=charges, credits=credits),
            {"principal_account": accounts.principal_account().pk, "interest_account": accounts.interest_income_account().pk},
        )
        posted, amount = ledger.post_staged_charges(source=POSTING_SOURCE, created_by=run.started_by)
        cursor.execute(_MARK_STAGED_POSTED_SQL.format(charges=charges), {"now": timezone.now(), "run": run.pk})
    _apply_credit(ledger.staged_parties_with_credit() if posted else [], run=run)
    return Booked(claimed=claimed, posted=posted, amount=amount)


# --- Credit ----------------------------------------------------------------------------------------


def _apply_credit(parties: list[tuple[Party, str]], *, run: InstallmentPostingRun) -> None:
    """A driver who paid ahead holds credit: it pays the items just posted, and may settle loans.

    Found with one query per batch (most drivers hold none). Locks: installments (the claim), then
    the credit account and open items (the ledger), then loans: the order every other writer
    follows, so nothing deadlocks.
    """
    for party, currency in parties:
        if party.type != DRIVER_PARTY_TYPE:
            continue
        applied = ledger.apply_party_credit(
            party=party, currency=currency, applied_on=business_today(), created_by=run.started_by
        )
        if applied is not None:
            close_settled_loans(driver_id=int(party.id))

