"""Waivers and write-offs: the creditor gives up what is still outstanding on open items.

The entry mirrors the charge for that amount (Dr the account the caller names, e.g. the income
the charge credited; Cr the item's receivable) and the item closes as `waived` in the same
transaction, so the receivable still equals its open items. Payments already allocated to the
item stay as they were; reversing one of them opens the item again for what it had paid.

A write-off (`write_off_open_items`) gives up many items at once as a loss: one entry debits the
loss account the caller names for all of them (and for any other claims the caller credits in the
same entry, e.g. principal not yet billed), credits each item's receivable for what was
outstanding, and the items close as `written_off`. A written-off item is never reopened: a payment
that had paid part of it is no longer reversed (reversals.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loanproject.core.errors import Conflict, NotFound
from loanproject.core.money import ZERO

from ..inputs import Leg
from ..locks import lock_open_items
from ..models import Account, JournalEntry, OpenItem, OpenItemStatus
from .entries import _book_entry

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@transaction.atomic
def waive_open_item(
    *,
    item_id: int,
    debit_account: Account,
    idempotency_key: str,
    source: str,
    description: str,
    entry_date: date,
    created_by: User | None = None,
) -> JournalEntry:
    """Book Dr `debit_account` / Cr the item's account for what is outstanding and close the item
    as waived. Refused (Conflict) when nothing is outstanding; the key books it once."""
    if not description.strip():
        raise ValidationError({"description": ["Say why the item is waived."]})
    items = lock_open_items([item_id])
    if not items:
        raise NotFound("No such open item.")
    item: OpenItem = items[0]
    if item.status != OpenItemStatus.OPEN:
        raise Conflict(
            f"Item {item.pk} is {item.get_status_display().lower()}: nothing is left to waive.", code="item_not_open"
        )
    entry = _book_entry(
        idempotency_key=idempotency_key,
        entry_date=entry_date,
        description=description,
        source=source,
        legs=[Leg(account=debit_account, debit=item.outstanding), Leg(account=item.account, credit=item.outstanding)],
        created_by=created_by,
        # Giving up a claim is allowed on an account closed to new charges.
        allow_inactive_accounts=True,
    )
    item.outstanding, item.status, item.closed_at = ZERO, OpenItemStatus.WAIVED, timezone.now()
    item.save(update_fields=["outstanding", "status", "closed_at"])
    return entry


@transaction.atomic
def write_off_open_items(
    *,
    item_ids: Iterable[int],
    loss_account: Account,
    idempotency_key: str,
    source: str,
    description: str,
    entry_date: date,
    other_credits: Sequence[Leg] = (),
    created_by: User | None = None,
) -> JournalEntry:
    """Book Dr `loss_account` / Cr each item's account for what is outstanding (one leg per
    account), plus `other_credits` (claims without items), and close the items as written off.
    Refused (Conflict) if one of them is no longer open; the key books it once."""
    if not description.strip():
        raise ValidationError({"description": ["Say why the items are written off."]})
    wanted = sorted(set(item_ids))
    items = lock_open_items(wanted)
    if len(items) != len(wanted):
        raise NotFound("No such open item.")
    if closed := [item.pk for item in items if item.status != OpenItemStatus.OPEN]:
        raise Conflict(f"Items {closed} are no longer open: nothing is left to write off.", code="item_not_open")
    per_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for item in items:
        per_account[item.account_id] += item.outstanding
    accounts = Account.objects.in_bulk(per_account)
    credits = [Leg(account=accounts[pk], credit=amount) for pk, amount in sorted(per_account.items())]
    credits += list(other_credits)
    total = sum((leg.credit for leg in credits), ZERO)
    entry = _book_entry(
        idempotency_key=idempotency_key,
        entry_date=entry_date,
        description=description,
        source=source,
        legs=[Leg(account=loss_account, debit=total), *credits],
        created_by=created_by,
        # Giving up a claim is allowed on an account closed to new charges.
        allow_inactive_accounts=True,
    )
    now = timezone.now()
    for item in items:  # one by one: each change is audited (a loan has a few items, not thousands)
        item.outstanding, item.status, item.closed_at = ZERO, OpenItemStatus.WRITTEN_OFF, now
        item.save(update_fields=["outstanding", "status", "closed_at"])
    return entry
