"""Balanced entries and charges: booked once (the idempotency key), never edited."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import Conflict, DomainError
from loanproject.core.money import ZERO, to_cents

from .. import bulk
from ..inputs import Charge, Leg, PostedCharge
from ..models import Account, AccountType, JournalEntry, Posting
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
    return EntryAlreadyBooked(f"{idempotency_key!r} is already booked as entry #{existing}.", existing_entry_id=existing)


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
        idempotency_key=idempotency_key, entry_date=entry_date, description=description, source=source,
        legs=legs, created_by=created_by,
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


def _currencies_of_charge_accounts(charges: Sequence[Charge]) -> dict[int, str]:
    """Validate every charge against its accounts; returns {account id: currency}."""
    account_ids = {charge.receivable_account_id for charge in charges}
    account_ids.update(account_id for charge in charges for account_id, _ in charge.credits)
    accounts = {pk: (currency, is_active, type) for pk, currency, is_active, type in _account_facts(account_ids)}
    keys = set()
    for charge in charges:
        key = charge.idempotency_key
        if not key or key in keys:
            raise ValidationError({"charges": [f"Idempotency key {key!r} is blank or repeated in the batch."]})
        keys.add(key)
        if not charge.credits:
            raise ValidationError({"charges": [f"{key}: a charge needs at least one credit."]})
        receivable = accounts.get(charge.receivable_account_id)
        if receivable is None or receivable[2] != AccountType.ASSET:
            raise DomainError(f"{key}: the receivable account must be an existing asset account.", code="bad_account")
        for account_id, amount in charge.credits:
            _check_amount(amount, what=f"{key}: a credit")
            if account_id not in accounts or accounts[account_id][0] != receivable[0]:
                raise DomainError(f"{key}: credit account {account_id} is missing or in another currency.", code="bad_account")
        for account_id in (charge.receivable_account_id, *(account_id for account_id, _ in charge.credits)):
            if not accounts[account_id][1]:
                raise DomainError(f"{key}: account {account_id} is closed to new postings.", code="account_inactive")
    return {pk: values[0] for pk, values in accounts.items()}


def _account_facts(account_ids: set[int]) -> list[tuple[Any, ...]]:
    """(id, currency, is_active, type) of the accounts; one array parameter on PostgreSQL."""
    if connection.vendor == "postgresql":
        return execute_with_bound_parameters(
            "SELECT id, currency, is_active, type FROM ledger_account WHERE id = ANY(%b::bigint[])", [sorted(account_ids)]
        ) or []
    return list(Account.objects.filter(pk__in=account_ids).values_list("pk", "currency", "is_active", "type"))


@transaction.atomic
def post_charges(*, charges: Sequence[Charge], source: str, created_by: User | None = None) -> dict[str, PostedCharge]:
    """Book many charges in one set-based write: each an entry (Dr receivable, Cr its credits)
    and an open item on the receivable.

    A charge whose idempotency key is already booked is skipped, so a batch can be retried or run
    twice (even concurrently) and still books each charge once. Returns {key: PostedCharge} for
    the charges booked by this call. One invalid charge refuses the whole batch.
    """
    currencies = _currencies_of_charge_accounts(charges)
    return bulk.write_charges(
        charges,
        currencies=currencies,
        source=source,
        created_by_id=created_by.pk if created_by is not None else None,
        now=timezone.now(),
    )


def stage_charges() -> tuple[str, str]:
    """PostgreSQL: open this transaction's staging tables for `post_staged_charges` and return
    their names (charges, credits). The caller fills them with INSERT ... SELECT (see bulk.py)."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("Staged charges need PostgreSQL; use post_charges elsewhere.")
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
    """PostgreSQL, after `post_staged_charges`: the parties charged by this batch that hold
    credit, with its currency. One query, whatever the batch size; most parties have none."""
    return [(Party(type=party_type, id=party_id), currency) for party_type, party_id, currency in bulk.staged_parties_with_credit()]
