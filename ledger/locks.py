"""Row locks taken before state changes (SELECT ... FOR UPDATE, always in pk order)."""

from __future__ import annotations

from collections.abc import Iterable

from loanproject.core.errors import NotFound

from .models import Account, AccountType, JournalEntry, OpenItem, OpenItemStatus
from .parties import Party


def lock_entry(entry_id: int) -> JournalEntry:
    """Serialises reversals of one entry (a row lock changes nothing, so no trigger objects)."""
    try:
        return JournalEntry.objects.select_for_update(of=("self",)).get(pk=entry_id)
    except (JournalEntry.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such journal entry.") from None


def lock_open_items_of(party: Party, *, currency: str) -> list[OpenItem]:
    """The party's open items in that currency, locked in pk order (payments of one party queue)."""
    return list(
        OpenItem.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(
            account__party_type=party.type,
            account__party_id=party.id,
            account__currency=currency,
            status=OpenItemStatus.OPEN,
        )
        .order_by("pk")
    )


def lock_open_items(item_ids: Iterable[int]) -> list[OpenItem]:
    return list(OpenItem.objects.select_for_update(of=("self",)).filter(pk__in=list(item_ids)).order_by("pk"))


def lock_credit_account(party: Party, *, currency: str) -> Account | None:
    """The party's credit account, locked against other credit applications and reversals.

    FOR NO KEY UPDATE: legs being booked on the account (whose foreign key checks take KEY SHARE
    locks) do not wait for it.
    """
    return (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .filter(party_type=party.type, party_id=party.id, category="", type=AccountType.LIABILITY, currency=currency)
        .first()
    )


def lock_accounts(account_ids: Iterable[int]) -> list[Account]:
    return list(
        Account.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=list(account_ids)).order_by("pk")
    )
