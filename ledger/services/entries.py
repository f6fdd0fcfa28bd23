"""Balanced entries and charges: booked once (the idempotency key), never edited."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from loanproject.core.errors import Conflict, DomainError
from loanproject.core.money import ZERO, to_cents

from .. import bulk
from ..inputs import Charge, Leg, PostedCharge
from ..models import JournalEntry, Posting
from ..parties import Party

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class EntryAlreadyBooked(Conflict):
    """The idempotency key names an entry that exists: the event was booked before."""

    code = "entry_already_booked"

    def __init__(self, message: str, *, existing_entry_id: int) -> None:
        super().__init__(message)
        self.existing_entry_id = existing_entry_id


def _check_amount(value: Decimal, *, what: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise ValidationError({"amount": [f"{what} must be a Decimal."]})
    if value != to_cents(value):
        raise ValidationError({"amount": [f"{what} has more than two decimal places: {value}."]})
    if value <= ZERO:
        raise ValidationError({"amount": [f"{what} must be positive, got {value}."]})
    return value


def _check_legs(legs: Sequence[Leg], *, allow_inactive_accounts: bool = False) -> None:
    if len(legs) < 2:
        raise ValidationError({"legs": ["An entry needs at least two legs."]})
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for leg in legs:
        if (leg.debit > ZERO) == (leg.credit > ZERO) or min(leg.debit, leg.credit) < ZERO:
            raise ValidationError({"legs": ["Each leg has a positive debit or a positive credit, not both."]})
        _check_amount(leg.debit or leg.credit, what=f"The leg on {leg.account.code}")
        if not leg.account.is_active and not allow_inactive_accounts:
            raise DomainError(f"Account {leg.account.code} is closed to new postings.", code="account_inactive")
        totals[leg.account.currency][0] += leg.debit
        totals[leg.account.currency][1] += leg.credit
    for currency, (debits, credits) in sorted(totals.items()):
        if debits != credits:
            raise ValidationError(
                {"legs": [f"The entry does not balance in {currency}: debits {debits}, credits {credits}."]}
            )


def _already_booked(idempotency_key: str) -> EntryAlreadyBooked | None:
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).values_list("pk", flat=True).first()
    if existing is None:
        return None
    return EntryAlreadyBooked(
        f"{idempotency_key!r} is already booked as entry #{existing}.", existing_entry_id=existing
    )


@transaction.atomic
def post_entry(
    *,
    idempotency_key: str,
    entry_date: date,
    description: str,
    source: str,
    legs: Sequence[Leg],
    created_by: User | None = None,
) -> JournalEntry:
    """Book one balanced entry. Its key books it once: a second attempt raises EntryAlreadyBooked."""
    return _book_entry(
        idempotency_key=idempotency_key,
        entry_date=entry_date,
        description=description,
        source=source,
        legs=legs,
        created_by=created_by,
    )


def _book_entry(
    *,
    idempotency_key: str,
    entry_date: date,
    description: str,
    source: str,
    legs: Sequence[Leg],
    created_by: User | None = None,
    reversal_of: JournalEntry | None = None,
    allow_inactive_accounts: bool = False,
) -> JournalEntry:
    _check_legs(legs, allow_inactive_accounts=allow_inactive_accounts)
    if (conflict := _already_booked(idempotency_key)) is not None:
        raise conflict
    entry = JournalEntry(
        idempotency_key=idempotency_key,
        entry_date=entry_date,
        description=description[:255],
        source=source,
        created_by=created_by,
        reversal_of=reversal_of,
    )
    entry.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError:  # a concurrent twin committed the same key first
        if (conflict := _already_booked(idempotency_key)) is not None:
            raise conflict from None
        raise
    # One statement for all legs: the database sees the entry whole.
    Posting.objects.bulk_create(
        Posting(entry=entry, account=leg.account, debit=leg.debit, credit=leg.credit, currency=leg.account.currency)
        for leg in legs
    )
    return entry


@transaction.atomic
def post_charges(*, charges: Sequence[Charge], source: str, created_by: User | None = None) -> dict[str, PostedCharge]:
    """Book many charges in one set-based write: each an entry (Dr receivable, Cr its credits)
    and an open item on the receivable.

    A charge whose idempotency key is already booked is skipped, so a batch can be retried or run
    twice (even concurrently) and still books each charge once. Returns {key: PostedCharge} for
    the charges booked by this call. One invalid charge refuses the whole batch.
    """
    keys = [charge.idempotency_key for charge in charges]
    if not all(keys) or len(set(keys)) != len(keys):
        raise ValidationError({"charges": ["Idempotency keys must be neither blank nor repeated in the batch."]})
    if not charges:
        return {}
    bulk.open_charge_staging()
    bulk.stage_given_charges(charges)
    bulk.book_staged_charges(
        source=source, created_by_id=created_by.pk if created_by is not None else None, now=timezone.now()
    )
    return bulk.booked_charges()


def stage_charges() -> tuple[str, str]:
    """Open this transaction's staging tables for `post_staged_charges` and return their names
    (charges, credits). The caller fills them with INSERT ... SELECT (see bulk.py)."""
    bulk.open_charge_staging()
    return bulk.STAGED_CHARGES, bulk.STAGED_CREDITS


@transaction.atomic
def post_staged_charges(*, source: str, created_by: User | None = None) -> tuple[int, Decimal]:
    """Book the staged charges like `post_charges` (keys already booked are skipped and linked),
    without their rows passing through Python. Returns (charges booked, their total)."""
    return bulk.book_staged_charges(
        source=source, created_by_id=created_by.pk if created_by is not None else None, now=timezone.now()
    )


def staged_parties_with_credit() -> list[tuple[Party, str]]:
    """After `post_staged_charges` or `post_charges`: the parties charged by this batch that hold
    credit, with its currency. One query, whatever the batch size; most parties have none."""
    return [
        (Party(type=party_type, id=party_id), currency)
        for party_type, party_id, currency in bulk.staged_parties_with_credit()
    ]
