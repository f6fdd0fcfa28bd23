"""Reversals: the mirror image of an entry, which undoes what the entry did to open items.

The ledger reverses on its own only what it booked itself (sources.REVERSIBLE_IN_LEDGER:
payments, credit applications, manual entries). An entry booked by another app (an installment,
a disbursement) is reversed by that app's service, which passes `on_behalf_of_source` and changes
its own records in the same transaction. Every reversal announces itself (`ledger.entry_reversed`)
so that the owners of the parties concerned can react, whichever door reversed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loanproject.core import topics
from loanproject.core.approvals import request_action
from loanproject.core.errors import Conflict, NotFound
from loanproject.core.money import ZERO
from loanproject.core.outbox import publish_event

from ..inputs import Leg
from ..locks import lock_accounts, lock_entry, lock_open_items
from ..models import Account, AccountType, JournalEntry, OpenItemStatus
from ..parties import Party
from ..selectors import credit_balance, entry_amount
from ..sources import PAYMENT_SOURCE, REVERSAL_SOURCE, REVERSIBLE_IN_LEDGER
from .entries import _book_entry

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest


class EntryOwnedElsewhere(Conflict):
    code = "entry_owned_elsewhere"


def _check_owner(entry: JournalEntry, on_behalf_of_source: str | None) -> None:
    if entry.source in REVERSIBLE_IN_LEDGER and on_behalf_of_source in (None, entry.source):
        return
    if on_behalf_of_source != entry.source:
        raise EntryOwnedElsewhere(
            f"Entry #{entry.pk} was booked by {entry.source}: reverse it there (it keeps its own records in step), "
            "not in the ledger."
        )


def _reopen_paid_items(entry: JournalEntry) -> None:
    """Reversing a payment gives back to each item what the payment had paid."""
    shares = dict(entry.allocations.values_list("item_id", "amount"))
    items = lock_open_items(shares)
    # A claim written off as a loss stays given up: reopening it would put it back on the books.
    if written_off := [item.pk for item in items if item.status == OpenItemStatus.WRITTEN_OFF]:
        raise Conflict(
            f"Entry #{entry.pk} paid items {written_off} that were written off since: it cannot be reversed here.",
            code="item_written_off",
        )
    for item in items:
        item.outstanding += shares[item.pk]
        item.status, item.closed_at = OpenItemStatus.OPEN, None
        item.save(update_fields=["outstanding", "status", "closed_at"])


def _close_items_opened_by(entry: JournalEntry) -> None:
    items = lock_open_items(entry.open_items.values_list("pk", flat=True))
    if any(item.outstanding != item.amount for item in items):
        raise Conflict(f"Entry #{entry.pk} was paid (in part): reverse the payments first.", code="entry_paid")
    now = timezone.now()
    for item in items:
        item.outstanding, item.status, item.closed_at = ZERO, OpenItemStatus.CLOSED, now
        item.save(update_fields=["outstanding", "status", "closed_at"])


def _is_credit_account(account: Account) -> bool:
    return account.party_type != "" and account.category == "" and account.type == AccountType.LIABILITY


def _check_credit_still_held(legs: list[Leg]) -> None:
    """Taking back a payment's credit must not overdraw it: if later charges used it, their
    credit applications are reversed first."""
    for leg in legs:
        if leg.debit > ZERO and _is_credit_account(leg.account) and credit_balance(account=leg.account) < leg.debit:
            raise Conflict(
                f"The credit this entry left on {leg.account.code} was applied to later charges since; reverse "
                "those credit applications first.",
                code="credit_applied",
            )


@transaction.atomic
def reverse_entry(
    *,
    entry_id: int,
    reason: str,
    reversal_date: date | None = None,
    created_by: User | None = None,
    on_behalf_of_source: str | None = None,
) -> JournalEntry:
    """Book the mirror image of an entry (debits become credits) and undo its items.

    An entry is reversed at most once; a reversal is not reversed again (book the entry anew).
    The items a charge opened are closed (refused while payments are allocated to them); the
    items a payment paid are opened again for what it paid. An entry of another app's source is
    refused unless that app asks (`on_behalf_of_source` = the entry's source).
    """
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the entry is reversed."]})
    entry = lock_entry(entry_id)
    if entry.reversal_of_id is not None:
        raise Conflict(f"Entry #{entry.pk} is itself a reversal; book the original again instead.", code="is_reversal")
    _check_owner(entry, on_behalf_of_source)
    if JournalEntry.objects.filter(reversal_of=entry).exists():
        raise Conflict(f"Entry #{entry.pk} is already reversed.", code="already_reversed")
    legs = [
        Leg(account=posting.account, debit=posting.credit, credit=posting.debit)
        for posting in entry.postings.select_related("account").order_by("pk")
    ]
    # Credit accounts before open items: the order apply_party_credit locks them in.
    lock_accounts(leg.account.pk for leg in legs if _is_credit_account(leg.account))
    _check_credit_still_held(legs)
    if entry.allocations.exists():
        _reopen_paid_items(entry)
    _close_items_opened_by(entry)
    reversal = _book_entry(
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
    parties = sorted({(leg.account.party_type, leg.account.party_id) for leg in legs if leg.account.party_type})
    publish_event(
        topic=topics.LEDGER_ENTRY_REVERSED,
        aggregate_type="ledger.JournalEntry",
        aggregate_id=entry.pk,
        payload={
            "entry_id": entry.pk,
            "reversal_entry_id": reversal.pk,
            "source": entry.source,
            "parties": [{"party_type": party_type, "party_id": party_id} for party_type, party_id in parties],
        },
    )
    return reversal


@transaction.atomic
def reverse_payment(*, party: Party, entry_id: int, reason: str, created_by: User | None = None) -> JournalEntry:
    """Reverse a payment of `party` (a bounced cheque, a payment booked to the wrong party): what
    it paid is open again and the credit it left is taken back."""
    entry = lock_entry(entry_id)
    party_legs = set(
        entry.postings.exclude(account__party_type="").values_list("account__party_type", "account__party_id")
    )
    if entry.source != PAYMENT_SOURCE or party_legs != {(party.type, party.id)}:
        raise NotFound(f"Entry #{entry.pk} is not a payment of {party}.")
    return reverse_entry(entry_id=entry.pk, reason=reason, created_by=created_by)


REVERSE_ENTRY_ACTION = "ledger.reverse_entry"


def run_entry_reversal(*, payload: Mapping[str, Any], actor: User) -> dict[str, int]:
    """The approved request's action (registered in apps.py)."""
    reversal = reverse_entry(entry_id=payload["entry_id"], reason=payload["reason"], created_by=actor)
    return {"reversal_entry_id": reversal.pk}


@transaction.atomic
def request_entry_reversal(*, entry_id: int, reason: str, requested_by: User) -> ApprovalRequest:
    """Ask to reverse an entry the ledger booked itself: done at once below the action's threshold
    (the entry's amount), else waiting for a second person (loanproject.core.approvals)."""
    return request_action(
        action=REVERSE_ENTRY_ACTION,
        target=f"ledger.entry:{entry_id}",
        payload={"entry_id": entry_id, "reason": reason},
        amount=entry_amount(entry_id),
        reason=reason,
        requested_by=requested_by,
    )
