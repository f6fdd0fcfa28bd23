"""Collections (collections_models.py): the queue of delinquent drivers, collectors, notes and
promises to pay.

The queue's figures are derived, set-based: one statement refreshes the cases of a chunk of
drivers from their loans' delinquency state (LoanDelinquency) and their LOANS open items. The
nightly job (`update_collections`, after the classification) walks every driver by id range;
classifying a driver's loans at once (a payment, a reversal) refreshes their case in the same
transaction. The same nightly job settles open promises to pay, set-based: kept once the driver's
payments from the day the promise was taken to its day reach the amount, broken the day after
its day came with less. The promise row records the day and the amount found, so a bulk
settlement leaves its own record (no audit row per promise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import CharField, DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from ledger import selectors as ledger_selectors
from ledger.models import Category
from loanproject.core.errors import DomainError, NotFound, PermissionDenied
from loanproject.core.rules import validated_save

from ..collections_models import (
    ASSIGNER_PERMISSION,
    COLLECTOR_PERMISSION,
    CollectionCase,
    CollectionNote,
    PromiseStatus,
    PromiseToPay,
)
from ..models import DRIVER_PARTY_TYPE, Driver
from ..periods import business_today
from .drivers import find_driver

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEFAULT_CHUNK_SIZE = 5000

_REFRESH = """
WITH drivers AS (
    SELECT loan.driver_id, max(state.days_past_due) AS days
    FROM loans_driverloan loan
    JOIN loans_loandelinquency state ON state.loan_id = loan.id
    WHERE {scope}
    GROUP BY loan.driver_id
), figures AS (
    SELECT drivers.driver_id, drivers.days, class.id AS class_id, coalesce((
        SELECT sum(item.outstanding)
        FROM ledger_account account
        JOIN ledger_openitem item ON item.account_id = account.id
        WHERE account.party_type = %(party_type)s
          AND account.party_id = drivers.driver_id::text
          AND account.category = %(category)s
          AND item.status = 'open'
          AND item.due_date < %(as_of)s
    ), 0) AS amount
    FROM drivers
    LEFT JOIN loans_delinquencyclass class ON int4range(class.min_days, class.max_days + 1) @> drivers.days
    -- A driver enters the queue when first delinquent; a case, once made, is kept up to date.
    WHERE drivers.days > 0
       OR EXISTS (SELECT 1 FROM loans_collectioncase known WHERE known.driver_id = drivers.driver_id)
), stored AS (
    INSERT INTO loans_collectioncase AS known (driver_id, days_past_due, overdue_amount, delinquency_class_id, as_of)
    SELECT driver_id, days, amount, class_id, %(as_of)s FROM figures
    ON CONFLICT (driver_id) DO UPDATE SET
        days_past_due = excluded.days_past_due,
        overdue_amount = excluded.overdue_amount,
        delinquency_class_id = excluded.delinquency_class_id,
        as_of = excluded.as_of
    WHERE (known.days_past_due, known.overdue_amount, known.delinquency_class_id, known.as_of)
        IS DISTINCT FROM (excluded.days_past_due, excluded.overdue_amount, excluded.delinquency_class_id, excluded.as_of)
    RETURNING 1
)
SELECT count(*) FROM stored
"""

_DRIVERS_SCOPE = "loan.driver_id = ANY(%(driver_ids)s)"
_RANGE_SCOPE = "loan.driver_id >= %(first_id)s AND loan.driver_id < %(next_id)s"


def _refresh(scope: str, params: dict[str, Any], lock: Callable[[], object]) -> int:
    # A payment's refresh and the nightly one of the same driver: the second waits for the first.
    lock()
    with connection.cursor() as cursor:
        cursor.execute(
            _REFRESH.format(scope=scope), {**params, "party_type": DRIVER_PARTY_TYPE, "category": Category.LOANS.value}
        )
        (changed,) = cursor.fetchone()
    return int(changed)


@transaction.atomic
def refresh_collection_cases(*, driver_ids: Sequence[int], as_of: date) -> int:
    """Refresh these drivers' cases as of `as_of` (after their loans were classified); returns how
    many cases were made or changed."""
    ids = sorted(set(driver_ids))
    if not ids:
        return 0

    def lock() -> None:
        list(CollectionCase.objects.select_for_update().filter(driver_id__in=ids).order_by("pk").values_list("pk"))

    return _refresh(_DRIVERS_SCOPE, {"driver_ids": ids, "as_of": as_of}, lock)


def refresh_collections_queue(
    *, as_of: date, chunk_size: int = DEFAULT_CHUNK_SIZE, on_chunk: Callable[[int], object] | None = None
) -> int:
    """Every driver's case, `chunk_size` driver ids per transaction (bounded memory and locks)."""
    bounds = Driver.objects.order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    changed = 0
    if first is None or last is None:
        return changed
    for start in range(first, last + 1, chunk_size):
        end = min(start + chunk_size, last + 1)

        def lock(start: int = start, end: int = end) -> None:
            list(
                CollectionCase.objects.select_for_update()
                .filter(driver_id__gte=start, driver_id__lt=end)
                .order_by("pk")
                .values_list("pk")
            )

        with transaction.atomic():
            changed += _refresh(_RANGE_SCOPE, {"first_id": start, "next_id": end, "as_of": as_of}, lock)
        if on_chunk is not None:
            on_chunk(end - start)
    return changed


@dataclass(frozen=True)
class SettledPromises:
    kept: int
    broken: int

    def __add__(self, other: SettledPromises) -> SettledPromises:
        return SettledPromises(self.kept + other.kept, self.broken + other.broken)


def _paid_for_promise(as_of: date) -> Coalesce:
    """What the promise's driver paid from the day it was taken to its day (and not after
    `as_of`): unreversed ledger payments, as a subquery of each promise row."""
    payments = (
        ledger_selectors.party_payment_legs(party_type=DRIVER_PARTY_TYPE)
        .filter(
            account__party_id=Cast(OuterRef("driver_id"), CharField()),
            entry__entry_date__gte=OuterRef("taken_on"),
            entry__entry_date__lte=OuterRef("promised_for"),
        )
        .filter(entry__entry_date__lte=as_of)
        .order_by()
        .values("account__party_type")
        .annotate(total=Sum("credit"))
        .values("total")[:1]
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    return Coalesce(Subquery(payments, output_field=money), Value(Decimal("0.00")), output_field=money)


def settle_promises_to_pay(
    *, as_of: date, chunk_size: int = DEFAULT_CHUNK_SIZE, on_chunk: Callable[[int], object] | None = None
) -> SettledPromises:
    """The nightly job: each open promise whose payments reach its amount is kept; each whose day
    is before `as_of` (so flagged the day after it falls due) with less paid is broken. Two
    statements per chunk of promise ids, one transaction each chunk; a rerun changes nothing."""
    open_promises = PromiseToPay.objects.filter(status=PromiseStatus.OPEN, taken_on__lte=as_of)
    bounds = open_promises.order_by("pk").values_list("pk", flat=True)
    first, last = bounds.first(), bounds.last()
    total = SettledPromises(0, 0)
    if first is None or last is None:
        return total
    paid = _paid_for_promise(as_of)
    for start in range(first, last + 1, chunk_size):
        end = min(start + chunk_size, last + 1)
        chunk = open_promises.filter(pk__gte=start, pk__lt=end).alias(paid=paid)
        with transaction.atomic():
            kept = chunk.filter(GreaterThanOrEqual(F("paid"), F("amount"))).update(
                status=PromiseStatus.KEPT, settled_on=as_of, paid_amount=paid
            )
            broken = chunk.filter(promised_for__lt=as_of).update(
                status=PromiseStatus.BROKEN, settled_on=as_of, paid_amount=paid
            )
        total += SettledPromises(kept, broken)
        if on_chunk is not None:
            on_chunk(end - start)
    return total


@dataclass(frozen=True)
class CollectionsUpdate:
    cases_changed: int
    promises: SettledPromises


def update_collections(*, as_of: date, chunk_size: int = DEFAULT_CHUNK_SIZE) -> CollectionsUpdate:
    """The nightly job after the classification: the queue, then the promises."""
    return CollectionsUpdate(
        cases_changed=refresh_collections_queue(as_of=as_of, chunk_size=chunk_size),
        promises=settle_promises_to_pay(as_of=as_of, chunk_size=chunk_size),
    )


@transaction.atomic
def assign_collector(*, driver_id: int, collector_id: int | None, assigned_by: User) -> CollectionCase:
    """Give a driver in the queue to a collector (a staff member who may work cases), or take
    them back (`collector_id` None)."""
    case = CollectionCase.objects.select_for_update().filter(driver_id=driver_id).first()
    if case is None:
        raise NotFound("This driver is not in the collections queue.")
    if collector_id is None:
        case.collector, case.assigned_at, case.assigned_by = None, None, None
    else:
        collector = get_user_model().objects.filter(pk=collector_id, is_active=True, is_staff=True).first()
        if collector is None or not collector.has_perm(COLLECTOR_PERMISSION):
            raise DomainError(
                "Not a collector.", fields={"collector": ["Choose an active staff member with the Collector role."]}
            )
        case.collector, case.assigned_at, case.assigned_by = collector, timezone.now(), assigned_by
    validated_save(case, update_fields=["collector", "assigned_at", "assigned_by"])
    return case


def _ensure_works_driver(user: User, driver_id: int) -> Driver:
    """The driver, when `user` may work them: whoever assigns collectors works every driver, a
    collector only the drivers whose case is assigned to them (nobody widens their own round).
    Call it inside the writing transaction: the case's row stays locked until the write commits."""
    driver = find_driver(driver_id)
    if user.has_perm(ASSIGNER_PERMISSION):
        return driver
    # Locked like assign_collector locks it: a reassignment committing meanwhile is waited for and
    # seen (the row is read again), so a collector never writes just after losing the driver.
    assigned = CollectionCase.objects.select_for_update().filter(driver_id=driver_id, collector_id=user.pk)
    if not assigned.exists():
        raise PermissionDenied(f"Driver {driver_id} is not assigned to you: ask Finance to assign them.")
    return driver


@transaction.atomic
def add_collection_note(*, driver_id: int, body: str, author: User) -> CollectionNote:
    """Append a note to a driver's collections record (notes are never changed or deleted)."""
    body = body.strip()
    if not body:
        raise DomainError("Empty note.", fields={"body": ["Write the note."]})
    note = CollectionNote(driver=_ensure_works_driver(author, driver_id), body=body, author=author)
    validated_save(note)
    return note


@transaction.atomic
def record_promise_to_pay(
    *, driver_id: int, amount: Decimal, promised_for: date, taken_by: User, taken_on: date | None = None
) -> PromiseToPay:
    """Record a driver's promise to pay `amount` by `promised_for`, taken today (business time)
    unless `taken_on`; the nightly job finds it kept or broken."""
    promise = PromiseToPay(
        driver=_ensure_works_driver(taken_by, driver_id),
        amount=amount,
        promised_for=promised_for,
        taken_on=taken_on or business_today(),
        taken_by=taken_by,
    )
    validated_save(promise)
    return promise
