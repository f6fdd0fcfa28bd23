"""Days past due and delinquency classes of driver loans (delinquency_models.py), set-based.

One statement classifies a whole chunk of loans: the oldest due date with money outstanding of
each (its posted installments' open items), the days since, the class those days fall in, one
history row for each loan whose class changed, and the upsert of each loan's state. The nightly
job (`classify_delinquency`) walks every loan by id range, a transaction per chunk; payments and
reversals classify the driver's loans at once in their own transaction (`classify_loans`).

Loans classified: active ones, and any other whose last state was past due (a loan closed or
written off since goes back to 0 days and its class once, then drops out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction

from loanproject.core.rules import validated_save

from ..delinquency_models import DEFAULT_CLASSES, DelinquencyClass, LoanDelinquency
from ..models import DriverLoan
from ..periods import business_today
from .collections import refresh_collection_cases

_CLASSIFY = """
WITH due AS (
    SELECT loan.id AS loan_id, (
        SELECT min(item.due_date)
        FROM loans_installment installment
        JOIN ledger_openitem item ON item.entry_id = installment.posted_entry_id
        WHERE installment.loan_id = loan.id
          AND installment.status = 'posted'
          AND item.status = 'open'
          AND item.due_date <= %(as_of)s
    ) AS oldest
    FROM loans_driverloan loan
    LEFT JOIN loans_loandelinquency known ON known.loan_id = loan.id
    WHERE {scope}
), computed AS (
    SELECT due.loan_id, due.oldest, coalesce(%(as_of)s::date - due.oldest, 0) AS days, class.id AS class_id
    FROM due
    LEFT JOIN loans_delinquencyclass class
      ON int4range(class.min_days, class.max_days + 1) @> coalesce(%(as_of)s::date - due.oldest, 0)
), compared AS (
    SELECT computed.*, known.delinquency_class_id AS old_class_id, known.loan_id IS NULL AS first_time
    FROM computed
    LEFT JOIN loans_loandelinquency known ON known.loan_id = computed.loan_id
), history AS (
    INSERT INTO loans_loandelinquencychange (loan_id, as_of, recorded_at, from_class_id, to_class_id, days_past_due)
    SELECT loan_id, %(as_of)s, now(), old_class_id, class_id, days
    FROM compared
    WHERE first_time OR old_class_id IS DISTINCT FROM class_id
    RETURNING 1
), stored AS (
    INSERT INTO loans_loandelinquency AS state
        (loan_id, days_past_due, oldest_overdue, delinquency_class_id, as_of, class_since)
    SELECT loan_id, days, oldest, class_id, %(as_of)s, %(as_of)s FROM compared
    ON CONFLICT (loan_id) DO UPDATE SET
        days_past_due = excluded.days_past_due,
        oldest_overdue = excluded.oldest_overdue,
        as_of = excluded.as_of,
        class_since = CASE
            WHEN state.delinquency_class_id IS DISTINCT FROM excluded.delinquency_class_id THEN excluded.class_since
            ELSE state.class_since
        END,
        delinquency_class_id = excluded.delinquency_class_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM history)
"""

# The loans of the nightly job in an id range: active ones, and those last seen past due.
_RANGE_SCOPE = (
    "loan.id >= %(first_id)s AND loan.id < %(next_id)s AND (loan.status = 'active' OR known.days_past_due > 0)"
)
_LOANS_SCOPE = "loan.id = ANY(%(loan_ids)s)"

DEFAULT_CHUNK_SIZE = 5000


@dataclass(frozen=True)
class Classified:
    loans: int
    changes: int

    def __add__(self, other: Classified) -> Classified:
        return Classified(self.loans + other.loans, self.changes + other.changes)


LoanDelinquencyLock = Callable[[], object]


def _classify(scope: str, params: dict[str, Any], lock: LoanDelinquencyLock) -> Classified:
    # Two classifications of one loan at once (the nightly job, a payment) would both see the old
    # class and both write the change: the second waits here for the first to commit.
    lock()
    with connection.cursor() as cursor:
        cursor.execute(_CLASSIFY.format(scope=scope), params)
        loans, changes = cursor.fetchone()
    return Classified(loans, changes)


@transaction.atomic
def classify_loans(*, loan_ids: Sequence[int], as_of: date) -> Classified:
    """Classify these loans as of `as_of`, whatever their status (a payment, a reversal)."""
    ids = sorted(set(loan_ids))
    if not ids:
        return Classified(0, 0)

    def lock() -> None:
        list(LoanDelinquency.objects.select_for_update().filter(loan_id__in=ids).order_by("loan_id").values_list("pk"))

    classified = _classify(_LOANS_SCOPE, {"as_of": as_of, "loan_ids": ids}, lock)
    # The drivers' places in the collections queue move with their loans' days past due.
    drivers = DriverLoan.objects.filter(pk__in=ids).values_list("driver_id", flat=True).distinct()
    refresh_collection_cases(driver_ids=list(drivers), as_of=as_of)
    return classified


@transaction.atomic
def classify_driver_loans(*, driver_id: int, as_of: date | None = None) -> Classified:
    """Every loan of the driver, as of today (business time) unless `as_of`: days past due and
    classes change with each payment and reversal, not only nightly."""
    return classify_loans(
        loan_ids=list(DriverLoan.objects.filter(driver_id=driver_id).values_list("pk", flat=True)),
        as_of=as_of or business_today(),
    )


def classify_delinquency(
    *, as_of: date, chunk_size: int = DEFAULT_CHUNK_SIZE, on_chunk: Callable[[int], object] | None = None
) -> Classified:
    """The nightly job: every loan concerned, `chunk_size` loan ids per transaction. `on_chunk`
    hears how many ids each chunk covered (a progress bar)."""
    bounds = DriverLoan.objects.order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    total = Classified(0, 0)
    if first is None or last is None:
        return total
    for start in range(first, last + 1, chunk_size):
        end = min(start + chunk_size, last + 1)

        def lock(start: int = start, end: int = end) -> None:
            list(
                LoanDelinquency.objects.select_for_update()
                .filter(loan_id__gte=start, loan_id__lt=end)
                .order_by("loan_id")
                .values_list("pk")
            )

        with transaction.atomic():
            total += _classify(_RANGE_SCOPE, {"as_of": as_of, "first_id": start, "next_id": end}, lock)
        if on_chunk is not None:
            on_chunk(end - start)
    return total


@transaction.atomic
def save_delinquency_class(
    *, class_id: int | None, code: str, name: str, min_days: int, max_days: int | None
) -> DelinquencyClass:
    """Add a class or change one's range; the database refuses overlapping or reversed ranges.
    Loans move to their new classes at the next classification (nightly, or a payment)."""
    delinquency_class = (
        DelinquencyClass.objects.select_for_update().get(pk=class_id) if class_id else DelinquencyClass()
    )
    delinquency_class.code, delinquency_class.name = code, name
    delinquency_class.min_days, delinquency_class.max_days = min_days, max_days
    validated_save(delinquency_class)
    return delinquency_class


@transaction.atomic
def ensure_default_delinquency_classes(*, using: str = "default") -> int:
    """The default classes when there is none at all (a new database, a flushed test database);
    staff's own classes are never touched. How many were created."""
    classes = DelinquencyClass.objects.using(using)
    if classes.exists():
        return 0
    created = classes.bulk_create(
        DelinquencyClass(code=code, name=name, min_days=low, max_days=high) for code, name, low, high in DEFAULT_CLASSES
    )
    return len(created)
