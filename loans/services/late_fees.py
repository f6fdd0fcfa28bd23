"""The nightly late-fee job: each posted installment of an active loan whose open item is still
outstanding more than the loan's grace days after its due date is charged the loan's late fee
once, as a PENALTY open item (Dr the driver's PENALTY receivable / Cr 4200 late fee income).

Set-based, like the delinquency job: loans are walked by id range, one transaction per chunk.
A chunk opens the PENALTY accounts its drivers lack (one statement), stages its fees for the
ledger with INSERT ... SELECT ... FOR UPDATE of the installments (in id order), books them with
the ledger's bulk charge path, records one `LateFee` row per fee from the stage, and lets the
credit its drivers hold pay the new items, as the weekly posting does. No installment passes
through Python.

Why it is not one atomic block, unlike the house rule: a night charges up to every overdue
installment of the book; a transaction per chunk keeps locks and memory bounded, and a crash
loses at most the chunk in flight (a rerun charges it). Call it outside any transaction.

How "exactly once" holds: the fee's ledger key "loans.late_fee:<installment id>" is unique (the
ledger books a key already booked by an earlier or concurrent run as nothing: ON CONFLICT DO
NOTHING, after the other commits), and `LateFee.installment` is unique; a rerun finds the fee row
and stages nothing. Two runs at once queue on the installments' row locks, and the second books
nothing twice. A chunk that fails (a bad row) rolls back whole; the run goes on with the next
chunk and reports the failed one.

The fee: flat, or the percent of the installment's amount rounded half-even to the loan's
currency digits (as every computed figure of a schedule), capped per installment when the loan
has a cap; a fee that rounds to nothing is not charged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from ledger import services as ledger
from ledger.models import Category
from loanproject.core.errors import DomainError
from loanproject.core.money import ZERO

from .. import accounts
from ..models import DRIVER_PARTY_TYPE, DriverLoan, LateFeeKind
from ..periods import validate_business_date
from .loans import close_settled_loans

if TYPE_CHECKING:
    from django.contrib.auth.models import User

LATE_FEE_SOURCE = "loans.late_fee"
DEFAULT_CHUNK_SIZE = 5000
# What a bad row of a chunk raises; anything else (a lost connection) stops the run.
CHUNK_ERRORS = (DomainError, IntegrityError, DataError)


def late_fee_key(installment_id: int) -> str:
    """The fee's journal entry key: one late fee per installment, whatever runs it."""
    return f"{LATE_FEE_SOURCE}:{installment_id}"


@dataclass
class LateFeeRun:
    """What one run charged: fees booked now (a rerun: none), their total, and the chunks that
    failed (rolled back whole: their fees are charged by the next run once fixed)."""

    as_of: date
    charged: int = 0
    amount: Decimal = ZERO
    failed_chunks: list[dict] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failed_chunks

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "charged": self.charged,
            "amount": str(self.amount),
            "failed_chunks": self.failed_chunks,
            "success": self.success,
        }


# The installments to charge, in a chunk of loans: posted, their item still open, past the grace.
_OVERDUE_SQL = """
  FROM loans_driverloan l
  JOIN loans_installment i ON i.loan_id = l.id
  JOIN ledger_openitem o ON o.entry_id = i.posted_entry_id
 WHERE l.id >= %(first_id)s AND l.id < %(next_id)s
   AND l.status = 'active' AND l.late_fee_kind <> 'none'
   AND i.status = 'posted' AND o.status = 'open'
   AND i.due_date < %(as_of)s::date - l.late_fee_grace_days
   AND NOT EXISTS (SELECT 1 FROM loans_latefee f WHERE f.installment_id = i.id)
"""

_DRIVERS_WITHOUT_ACCOUNT_SQL = (
    """
SELECT DISTINCT d.id::text, d.full_name
  FROM loans_driver d
 WHERE d.id IN (SELECT l.driver_id"""
    + _OVERDUE_SQL
    + """)
   AND NOT EXISTS (SELECT 1 FROM ledger_account a
                    WHERE a.party_type = %(party_type)s AND a.party_id = d.id::text AND a.category = %(category)s
                      AND a.type = 'asset' AND a.currency = %(currency)s)
"""
)

# Half-even to the loan's digits (0 or 2), as schedules.RoundingRules.money rounds.
_PERCENT_FEE = """(
    SELECT CASE WHEN scaled - floor(scaled) > 0.5 THEN floor(scaled) + 1
                WHEN scaled - floor(scaled) < 0.5 THEN floor(scaled)
                WHEN mod(floor(scaled), 2) = 0 THEN floor(scaled)
                ELSE floor(scaled) + 1 END / power(10::numeric, l.currency_digits)
      FROM (SELECT i.amount * l.late_fee_percent / 100 * power(10::numeric, l.currency_digits) AS scaled) s
)"""
_FEE = f"""CASE l.late_fee_kind WHEN 'flat' THEN l.late_fee_amount
     ELSE least({_PERCENT_FEE}, coalesce(l.late_fee_cap, {_PERCENT_FEE})) END"""

_STAGE_FEES_SQL = (
    """
INSERT INTO {charges} (idempotency_key, entry_date, due_date, description, reference, receivable_account_id,
                       caller_id, amount)
SELECT %(key_prefix)s || i.id, %(as_of)s, %(as_of)s,
       l.loan_number || ' late fee on installment ' || i.sequence || '/' || l.installment_count,
       l.loan_number || ' #' || i.sequence || ' late fee', a.id, i.id, fee.amount
  FROM loans_driverloan l
  JOIN loans_installment i ON i.loan_id = l.id
  JOIN ledger_openitem o ON o.entry_id = i.posted_entry_id
  JOIN ledger_account a ON a.party_type = %(party_type)s AND a.party_id = l.driver_id::text
                       AND a.category = %(category)s AND a.type = 'asset' AND a.currency = %(currency)s
  CROSS JOIN LATERAL (SELECT round("""
    + _FEE
    + """, 2) AS amount) fee
 WHERE l.id >= %(first_id)s AND l.id < %(next_id)s
   AND l.status = 'active' AND l.late_fee_kind <> 'none'
   AND i.status = 'posted' AND o.status = 'open'
   AND i.due_date < %(as_of)s::date - l.late_fee_grace_days
   AND NOT EXISTS (SELECT 1 FROM loans_latefee f WHERE f.installment_id = i.id)
   AND fee.amount > 0
 ORDER BY i.id
   FOR UPDATE OF i
"""
)
_STAGE_CREDITS_SQL = """
INSERT INTO {credits} (idempotency_key, account_id, amount)
SELECT idempotency_key, %(income_account)s, amount FROM {charges}
"""
_RECORD_FEES_SQL = """
INSERT INTO loans_latefee (installment_id, loan_id, amount, charged_on, charged_at, entry_id, open_item_id, status,
                           waiver_reason)
SELECT s.caller_id, i.loan_id, s.amount, %(as_of)s, %(now)s, s.entry_id, o.id, 'charged', ''
  FROM {charges} s
  JOIN loans_installment i ON i.id = s.caller_id
  JOIN ledger_openitem o ON o.entry_id = s.entry_id
 WHERE s.booked
"""


def _params(*, as_of: date, first_id: int, next_id: int) -> dict:
    return {
        "as_of": as_of,
        "first_id": first_id,
        "next_id": next_id,
        "party_type": DRIVER_PARTY_TYPE,
        "category": Category.PENALTY,
        "currency": settings.LEDGER_CURRENCY,
        "key_prefix": f"{LATE_FEE_SOURCE}:",
    }


@transaction.atomic
def charge_late_fee_chunk(
    *, as_of: date, first_loan_id: int, next_loan_id: int, started_by: User | None = None
) -> tuple[int, Decimal]:
    """Charge the late fees of the loans with ids in [first, next) as of `as_of`, in one
    transaction; returns (fees charged now, their total)."""
    params = _params(as_of=as_of, first_id=first_loan_id, next_id=next_loan_id)
    with connection.cursor() as cursor:
        cursor.execute(_DRIVERS_WITHOUT_ACCOUNT_SQL, params)
        missing = cursor.fetchall()
    if missing:
        ledger.open_party_accounts(
            parties=[(accounts.driver_party(int(party_id)), name) for party_id, name in missing],
            category=Category.PENALTY,
        )
    charges, credits = ledger.stage_charges()
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_FEES_SQL.format(charges=charges), params)
        if not cursor.rowcount:
            return 0, ZERO
        cursor.execute(
            _STAGE_CREDITS_SQL.format(charges=charges, credits=credits),
            {"income_account": accounts.late_fee_income_account().pk},
        )
        charged, amount = ledger.post_staged_charges(source=LATE_FEE_SOURCE, created_by=started_by)
        cursor.execute(_RECORD_FEES_SQL.format(charges=charges), {"as_of": as_of, "now": timezone.now()})
    if charged:
        _apply_credit(as_of=as_of, started_by=started_by)
    return charged, amount


def _apply_credit(*, as_of: date, started_by: User | None) -> None:
    """Drivers who paid ahead: their credit pays the new fees (locks: installments, then the
    credit account and items, then loans, as the posting takes them)."""
    for party, currency in ledger.staged_parties_with_credit():
        if party.type != DRIVER_PARTY_TYPE:
            continue
        if ledger.apply_party_credit(party=party, currency=currency, applied_on=as_of, created_by=started_by):
            close_settled_loans(driver_id=int(party.id))


def late_fee_loan_ids() -> tuple[int | None, int | None]:
    """The first and last id of the loans with late-fee terms (the range the job walks)."""
    ids = DriverLoan.objects.exclude(late_fee_kind=LateFeeKind.NONE).order_by("pk").values_list("pk", flat=True)
    return ids.first(), ids.last()


def charge_late_fees(
    *,
    as_of: date,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    started_by: User | None = None,
    on_chunk: Callable[[int], object] | None = None,
) -> LateFeeRun:
    """The nightly job: every loan with late-fee terms, `chunk_size` loan ids per transaction.
    `on_chunk` hears how many ids each chunk covered (a progress bar)."""
    validate_business_date(as_of, field="as_of")
    if chunk_size < 1:
        raise DomainError("At least one loan per chunk.", fields={"chunk_size": ["At least 1."]})
    run = LateFeeRun(as_of=as_of)
    first, last = late_fee_loan_ids()
    if first is None or last is None:
        return run
    for start in range(first, last + 1, chunk_size):
        end = min(start + chunk_size, last + 1)
        try:
            charged, amount = charge_late_fee_chunk(
                as_of=as_of, first_loan_id=start, next_loan_id=end, started_by=started_by
            )
        except CHUNK_ERRORS as exc:
            message = (getattr(exc, "message", None) or str(exc))[:500]
            run.failed_chunks.append({"first_loan_id": start, "next_loan_id": end, "error": message})
        else:
            run.charged += charged
            run.amount += amount
        if on_chunk is not None:
            on_chunk(end - start)
    return run
