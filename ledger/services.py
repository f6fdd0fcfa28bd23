"""Every change to the book: accounts, balanced entries, charges, payments, reversals.

Each function is atomic, takes keyword arguments, validates before it writes and returns what it
booked. Entries are append-only: a mistake is corrected with `reverse_entry`, never by editing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from loanproject.core.db import execute_with_bound_parameters
from loanproject.core.errors import Conflict, DomainError, IdempotencyKeyReused
from loanproject.core.money import ZERO, to_cents
from loanproject.core.outbox import publish_event

from . import bulk
from .inputs import Charge, Leg, PostedCharge
from .locks import lock_entry, lock_open_items, lock_open_items_of
from .models import (
    Account,
    AccountType,
    Category,
    JournalEntry,
    OpenItem,
    OpenItemStatus,
    PaymentAllocation,
    Posting,
)
from .parties import Party

PAYMENT_SOURCE = "ledger.payment"
REVERSAL_SOURCE = "ledger.reversal"


class EntryAlreadyBooked(Conflict):
    """The idempotency key names an entry that exists: the event was booked before."""

    code = "entry_already_booked"

    def __init__(self, message: str, *, existing_entry_id: int) -> None:
        super().__init__(message)
        self.existing_entry_id = existing_entry_id


# --- Accounts ----------------------------------------------------------------------------------


@transaction.atomic
def open_account(*, code: str, name: str, type: str, currency: str | None = None) -> Account:
    """The chart-of-accounts account `code`, created on first use; a different type is refused."""
    currency = currency or settings.LEDGER_CURRENCY
    account = Account.objects.filter(code=code).first()
    if account is None:
        account = Account(code=code, name=name, type=type, currency=currency)
        account.full_clean()
        try:
            with transaction.atomic():
                account.save(force_insert=True)
        except IntegrityError:  # opened concurrently: use theirs
            account = Account.objects.get(code=code)
    if (account.type, account.currency) != (type, currency):
        raise Conflict(
            f"Account {code} exists as {account.type} in {account.currency}, not {type} in {currency}.",
            code="account_mismatch",
        )
    return account


def party_account_code(*, party: Party, category: str, type: str, currency: str) -> str:
    return f"{party.type}:{party.id}:{category or type}:{currency}"


@transaction.atomic
def open_party_account(
    *,
    party: Party,
    category: str,
    type: str = AccountType.ASSET,
    currency: str | None = None,
    name: str = "",
) -> Account:
    """The party's account for a category (its receivable) or, with category "", its credit."""
    currency = currency or settings.LEDGER_CURRENCY
    lookup = {"party_type": party.type, "party_id": party.id, "category": category, "type": type, "currency": currency}
    account = Account.objects.filter(**lookup).first()
    if account is not None:
        return account
    label = Category(category).label if category else "credit"
    account = Account(
        code=party_account_code(party=party, category=category, type=type, currency=currency),
        name=(name or f"{party}")[:150] + f" {label}",
        **lookup,
    )
    account.full_clean()
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError:  # opened concurrently: use theirs
        account = Account.objects.get(**lookup)
    return account


@transaction.atomic
def set_account_active(*, account_id: int, is_active: bool) -> Account:
    """Close an account to new postings (or open it again); its history stays."""
    account = Account.objects.select_for_update().get(pk=account_id)
    if account.is_active != is_active:
        account.is_active = is_active
        account.full_clean()
        account.save(update_fields=["is_active"])
    return account


# --- Entries -----------------------------------------------------------------------------------


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
    created_by=None,
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
    created_by=None,
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


def _account_facts(account_ids: set[int]) -> list[tuple]:
    """(id, currency, is_active, type) of the accounts; one array parameter on PostgreSQL."""
    if connection.vendor == "postgresql":
        return execute_with_bound_parameters(
            "SELECT id, currency, is_active, type FROM ledger_account WHERE id = ANY(%b::bigint[])", [sorted(account_ids)]
        )
    return list(Account.objects.filter(pk__in=account_ids).values_list("pk", "currency", "is_active", "type"))


@transaction.atomic
def post_charges(*, charges: Sequence[Charge], source: str, created_by=None) -> dict[str, PostedCharge]:
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
def post_staged_charges(*, source: str, created_by=None) -> tuple[int, Decimal]:
    """Book the staged charges like `post_charges` (keys already booked are skipped and linked),
    without their rows passing through Python. Returns (charges booked, their total)."""
    return bulk.book_staged_charges(
        source=source, created_by_id=created_by.pk if created_by is not None else None, now=timezone.now()
    )


# --- Payments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentResult:
    entry: JournalEntry
    allocations: list[PaymentAllocation]
    applied: Decimal
    credit: Decimal
    replayed: bool = False

    @property
    def amount(self) -> Decimal:
        return self.applied + self.credit


def allocation_rank(category: str, order: Sequence[str]) -> int:
    return order.index(category) if category in order else len(order)


def _replay_payment(entry: JournalEntry, *, party: Party, amount: Decimal) -> PaymentResult:
    cash_leg = entry.postings.filter(debit__gt=0).select_related("account").first()
    credit_legs = list(entry.postings.filter(credit__gt=0).select_related("account"))
    same_party = all(
        leg.account.party_type == party.type and leg.account.party_id == party.id for leg in credit_legs
    )
    if entry.source != PAYMENT_SOURCE or cash_leg is None or cash_leg.debit != amount or not same_party:
        raise IdempotencyKeyReused(f"{entry.idempotency_key!r} was used for another booking (entry #{entry.pk}).")
    allocations = list(entry.allocations.select_related("item").order_by("pk"))
    applied = sum((allocation.amount for allocation in allocations), ZERO)
    return PaymentResult(entry=entry, allocations=allocations, applied=applied, credit=amount - applied, replayed=True)


@transaction.atomic
def record_payment(
    *,
    party: Party,
    amount: Decimal,
    received_on: date,
    idempotency_key: str,
    cash_account: Account,
    description: str = "",
    categories: Sequence[str] | None = None,
    created_by=None,
) -> PaymentResult:
    """Book a payment from a party and allocate it to its open items.

    Items are paid category by category in `categories` order (default
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER; categories not listed come last), oldest due date
    first within a category. What is left stays on the party's credit account. The same key
    replays the first result; the party's open items are locked, so payments of one party queue.
    """
    amount = _check_amount(amount, what="The payment")
    currency = cash_account.currency
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replay_payment(existing, party=party, amount=amount)
    order = list(categories if categories is not None else settings.LEDGER_PAYMENT_ALLOCATION_ORDER)
    items = sorted(
        lock_open_items_of(party, currency=currency),
        key=lambda item: (allocation_rank(item.account.category, order), item.due_date, item.pk),
    )
    remaining = amount
    shares: list[tuple[OpenItem, Decimal]] = []
    for item in items:
        if remaining == ZERO:
            break
        share = min(item.outstanding, remaining)
        shares.append((item, share))
        remaining -= share
    per_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    accounts = {}
    for item, share in shares:
        per_account[item.account_id] += share
        accounts[item.account_id] = item.account
    legs = [Leg(account=cash_account, debit=amount)]
    legs += [Leg(account=accounts[account_id], credit=total) for account_id, total in sorted(per_account.items())]
    if remaining > ZERO:
        credit_account = open_party_account(party=party, category="", type=AccountType.LIABILITY, currency=currency)
        legs.append(Leg(account=credit_account, credit=remaining))
    try:
        with transaction.atomic():
            entry = post_entry(
                idempotency_key=idempotency_key,
                entry_date=received_on,
                description=description or f"Payment from {party}",
                source=PAYMENT_SOURCE,
                legs=legs,
                created_by=created_by,
            )
    except EntryAlreadyBooked as booked:  # a concurrent twin with the same key won
        return _replay_payment(JournalEntry.objects.get(pk=booked.existing_entry_id), party=party, amount=amount)
    now = timezone.now()
    for item, share in shares:
        item.outstanding -= share
        if item.outstanding == ZERO:
            item.status, item.closed_at = OpenItemStatus.CLOSED, now
        item.full_clean()
        item.save(update_fields=["outstanding", "status", "closed_at"])
    allocations = PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment_entry=entry, item=item, amount=share) for item, share in shares
    )
    applied = amount - remaining
    publish_event(
        topic="ledger.payment_recorded",
        aggregate_type="ledger.JournalEntry",
        aggregate_id=entry.pk,
        payload={
            "entry_id": entry.pk,
            "party_type": party.type,
            "party_id": party.id,
            "amount": str(amount),
            "applied": str(applied),
            "credit": str(remaining),
            "currency": currency,
        },
    )
    return PaymentResult(entry=entry, allocations=allocations, applied=applied, credit=remaining)


# --- Reversals ---------------------------------------------------------------------------------


def _reopen_paid_items(entry: JournalEntry) -> None:
    """Reversing a payment gives back to each item what the payment had paid."""
    shares = dict(entry.allocations.values_list("item_id", "amount"))
    for item in lock_open_items(shares):
        item.outstanding += shares[item.pk]
        item.status, item.closed_at = OpenItemStatus.OPEN, None
        item.full_clean()
        item.save(update_fields=["outstanding", "status", "closed_at"])


def _close_items_opened_by(entry: JournalEntry) -> None:
    items = lock_open_items(entry.open_items.values_list("pk", flat=True))
    if any(item.outstanding != item.amount for item in items):
        raise Conflict(
            f"Entry #{entry.pk} was paid (in part): reverse the payments first.", code="entry_paid"
        )
    now = timezone.now()
    for item in items:
        item.outstanding, item.status, item.closed_at = ZERO, OpenItemStatus.CLOSED, now
        item.full_clean()
        item.save(update_fields=["outstanding", "status", "closed_at"])


@transaction.atomic
def reverse_entry(*, entry_id: int, reason: str, reversal_date: date | None = None, created_by=None) -> JournalEntry:
    """Book the mirror image of an entry (debits become credits) and undo its items.

    An entry is reversed at most once; a reversal is not reversed again (book the entry anew).
    The items a charge opened are closed (refused while payments are allocated to them); the
    items a payment paid are opened again for what it paid.
    """
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the entry is reversed."]})
    entry = lock_entry(entry_id)
    if entry.reversal_of_id is not None:
        raise Conflict(f"Entry #{entry.pk} is itself a reversal; book the original again instead.", code="is_reversal")
    if JournalEntry.objects.filter(reversal_of=entry).exists():
        raise Conflict(f"Entry #{entry.pk} is already reversed.", code="already_reversed")
    if entry.allocations.exists():
        _reopen_paid_items(entry)
    _close_items_opened_by(entry)
    legs = [
        Leg(account=posting.account, debit=posting.credit, credit=posting.debit)
        for posting in entry.postings.select_related("account").order_by("pk")
    ]
    return _book_entry(
        idempotency_key=f"reversal:{entry.pk}",
        entry_date=reversal_date or timezone.localdate(),
        description=f"Reversal of #{entry.pk}: {reason}"[:255],
        source=REVERSAL_SOURCE,
        legs=legs,
        created_by=created_by,
        reversal_of=entry,
        # A reversal only undoes: it goes through even if an account was closed since.
        allow_inactive_accounts=True,
    )
