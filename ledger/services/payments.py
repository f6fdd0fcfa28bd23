"""Payments and credit: money from a party is allocated to its open items, category by category
in the configured order, oldest due date first; what is left is the party's credit, which later
charges use up (`apply_party_credit`) in the same order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from loanproject.core import topics
from loanproject.core.errors import IdempotencyKeyReused
from loanproject.core.money import ZERO
from loanproject.core.outbox import publish_event

from ..inputs import Leg
from ..locks import lock_credit_account, lock_open_items_of
from ..models import Account, AccountType, JournalEntry, OpenItem, OpenItemStatus, PaymentAllocation, Posting
from ..parties import Party
from ..selectors import credit_balance
from ..sources import CREDIT_SOURCE, PAYMENT_SOURCE
from .accounts import open_party_account
from .entries import EntryAlreadyBooked, _check_amount, post_entry

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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


@dataclass(frozen=True)
class CreditApplication:
    """Credit a party held, applied to its open items by one entry (Dr credit, Cr receivables)."""

    entry: JournalEntry
    allocations: list[PaymentAllocation]
    applied: Decimal
    credit_left: Decimal


def allocation_rank(category: str, order: Sequence[str]) -> int:
    return order.index(category) if category in order else len(order)


def _allocate(
    items: list[OpenItem], amount: Decimal, categories: Sequence[str] | None
) -> tuple[list[tuple[OpenItem, Decimal]], Decimal]:
    """Shares of `amount` for the items in allocation order; returns (shares, what is left)."""
    order = list(categories if categories is not None else settings.LEDGER_PAYMENT_ALLOCATION_ORDER)
    ranked = sorted(items, key=lambda item: (allocation_rank(item.account.category, order), item.due_date, item.pk))
    remaining = amount
    shares: list[tuple[OpenItem, Decimal]] = []
    for item in ranked:
        if remaining == ZERO:
            break
        share = min(item.outstanding, remaining)
        shares.append((item, share))
        remaining -= share
    return shares, remaining


def _receivable_legs(shares: list[tuple[OpenItem, Decimal]]) -> list[Leg]:
    per_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    accounts = {}
    for item, share in shares:
        per_account[item.account_id] += share
        accounts[item.account_id] = item.account
    return [Leg(account=accounts[account_id], credit=total) for account_id, total in sorted(per_account.items())]


def _pay_items(entry: JournalEntry, shares: list[tuple[OpenItem, Decimal]]) -> list[PaymentAllocation]:
    now = timezone.now()
    for item, share in shares:
        item.outstanding -= share
        if item.outstanding == ZERO:
            item.status, item.closed_at = OpenItemStatus.CLOSED, now
        item.save(update_fields=["outstanding", "status", "closed_at"])
    return PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment_entry=entry, item=item, amount=share) for item, share in shares
    )


def _replay_payment(entry: JournalEntry, *, party: Party, amount: Decimal) -> PaymentResult:
    cash_leg = entry.postings.filter(debit__gt=0).select_related("account").first()
    credit_legs = list(entry.postings.filter(credit__gt=0).select_related("account"))
    same_party = all(leg.account.party_type == party.type and leg.account.party_id == party.id for leg in credit_legs)
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
    only_items: Collection[int] | None = None,
    created_by: User | None = None,
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
    items = lock_open_items_of(party, currency=currency)
    if only_items is not None:
        wanted = set(only_items)
        items = [item for item in items if item.pk in wanted]
    shares, remaining = _allocate(items, amount, categories)
    legs = [Leg(account=cash_account, debit=amount), *_receivable_legs(shares)]
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
    allocations = _pay_items(entry, shares)
    applied = amount - remaining
    publish_event(
        topic=topics.LEDGER_PAYMENT_RECORDED,
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


@transaction.atomic
def apply_party_credit(
    *, party: Party, currency: str | None = None, applied_on: date | None = None, created_by: User | None = None
) -> CreditApplication | None:
    """Use the party's credit (overpayments) to pay its open items, in the order payments pay
    them. Returns None when there is no credit, its account is closed, or nothing is open to pay.

    The credit account is locked first, then the open items (as payments lock them), so two
    applications for one party queue and never spend the same credit twice. The entry's key names
    the credit account's last leg: the same state can be applied once only.
    """
    currency = currency or settings.LEDGER_CURRENCY
    credit_account = lock_credit_account(party, currency=currency)
    if credit_account is None or not credit_account.is_active:  # closed by staff: theirs to spend
        return None
    available = credit_balance(account=credit_account)
    if available <= ZERO:
        return None
    shares, left = _allocate(lock_open_items_of(party, currency=currency), available, None)
    if not shares:
        return None
    applied = available - left
    last_leg = Posting.objects.filter(account=credit_account).aggregate(last=Max("pk"))["last"]
    entry = post_entry(
        idempotency_key=f"{CREDIT_SOURCE}:{credit_account.pk}:{last_leg}",
        entry_date=applied_on or timezone.localdate(),
        description=f"Credit of {party} applied to its open items",
        source=CREDIT_SOURCE,
        legs=[Leg(account=credit_account, debit=applied), *_receivable_legs(shares)],
        created_by=created_by,
    )
    return CreditApplication(entry=entry, allocations=_pay_items(entry, shares), applied=applied, credit_left=left)
