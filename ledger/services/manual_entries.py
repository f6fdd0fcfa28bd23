"""Manual journal entries: a balanced entry booked by hand (source `ledger.manual`), through
maker-checker (loanproject.core.approvals): doors ask with `request_manual_entry` (a reason is
required); a second person with `ledger.post_manual_entry` approves, and the registered runner
(`run_manual_entry`, apps.py) calls `post_manual_entry` in the approving transaction, or at once
when the entry's total debits are below the action's threshold.

Which accounts a manual entry may touch: the book's own accounts only (cash, income, expense,
suspense...), active, all in one currency. A party's accounts are refused: their balance must equal
the outstanding amount of their open items ("receivable = open items"), which a bare entry would
break; a party's balance changes through its own services (charges, payments, waivers, and MISC
adjustments for drivers). A refused entry is a field error naming the leg, and nothing is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.money import ZERO, to_cents

from ..forms import EARLIEST
from ..inputs import Leg
from ..models import Account, JournalEntry
from ..sources import MANUAL_SOURCE
from .entries import post_entry

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

MANUAL_ENTRY_ACTION = "ledger.post_manual_entry"
MANUAL_ENTRY_PERMISSION = "ledger.post_manual_entry"
MAX_LEGS = 20


@dataclass(frozen=True)
class ManualLeg:
    """One line of a manual entry as a door gives it: an account id and a debit or a credit."""

    account_id: int
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    def as_payload(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "debit": str(self.debit), "credit": str(self.credit)}

    @classmethod
    def of_payload(cls, data: Mapping[str, Any]) -> ManualLeg:
        return cls(account_id=int(data["account_id"]), debit=Decimal(data["debit"]), credit=Decimal(data["credit"]))


def _leg_problem(number: int, leg: ManualLeg, account: Account | None) -> str | None:
    def amount_ok(value: Decimal) -> bool:
        try:
            return value.is_finite() and value >= ZERO and value == to_cents(value)
        except InvalidOperation:
            return False

    if account is None:
        return f"Leg {number}: no account #{leg.account_id}."
    if not (amount_ok(leg.debit) and amount_ok(leg.credit)):
        return f"Leg {number} ({account.code}): amounts are positive with at most two decimal places."
    if (leg.debit > ZERO) == (leg.credit > ZERO):
        return f"Leg {number} ({account.code}): a positive debit or a positive credit, not both and not neither."
    if account.party_type:
        return (
            f"Leg {number} ({account.code}): the account of a party ({account.party_type} {account.party_id}) "
            "must equal its open items; change it through the party's own services (its charges, payments, "
            "waivers, or a MISC adjustment), not by a manual entry."
        )
    if not account.is_active:
        return f"Leg {number} ({account.code}): the account is closed to new postings."
    return None


def _book_legs(legs: Sequence[ManualLeg]) -> list[Leg]:
    """The legs as the book takes them, or a ValidationError on `legs` naming each bad leg."""
    if len(legs) < 2:
        raise ValidationError({"legs": ["A manual entry needs at least two legs."]})
    if len(legs) > MAX_LEGS:
        raise ValidationError({"legs": [f"At most {MAX_LEGS} legs."]})
    accounts = Account.objects.in_bulk({leg.account_id for leg in legs})
    problems = [
        problem
        for number, leg in enumerate(legs, start=1)
        if (problem := _leg_problem(number, leg, accounts.get(leg.account_id))) is not None
    ]
    if problems:
        raise ValidationError({"legs": problems})
    currencies = sorted({accounts[leg.account_id].currency for leg in legs})
    if len(currencies) > 1:
        raise ValidationError({"legs": [f"All legs in one currency; these are in {', '.join(currencies)}."]})
    return [Leg(account=accounts[leg.account_id], debit=leg.debit, credit=leg.credit) for leg in legs]


def _entry_date(entry_date: date | None) -> date:
    today = timezone.localdate()
    if entry_date is None:
        return today
    if not EARLIEST <= entry_date <= today:
        raise ValidationError({"entry_date": [f"Enter a date between {EARLIEST} and today ({today})."]})
    return entry_date


def manual_entry_key(idempotency_key: str) -> str:
    return f"{MANUAL_SOURCE}:{idempotency_key}"


@transaction.atomic
def post_manual_entry(
    *, legs: Sequence[ManualLeg], description: str, idempotency_key: str, actor: User, entry_date: date | None = None
) -> JournalEntry:
    """Book a balanced entry by hand on the book's own accounts (see the module docstring); its
    key books it once. Call it through maker-checker (`request_manual_entry`)."""
    if not description.strip():
        raise ValidationError({"description": ["Say what the entry books."]})
    return post_entry(
        idempotency_key=manual_entry_key(idempotency_key),
        entry_date=_entry_date(entry_date),
        description=description.strip(),
        source=MANUAL_SOURCE,
        legs=_book_legs(legs),
        created_by=actor,
    )


def run_manual_entry(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered in apps.py)."""
    entry = post_manual_entry(
        legs=[ManualLeg.of_payload(leg) for leg in payload["legs"]],
        description=payload["description"],
        entry_date=date.fromisoformat(payload["entry_date"]),
        idempotency_key=payload["idempotency_key"],
        actor=actor,
    )
    return {"entry_id": entry.pk}


ACTION = ApprovalAction(
    name=MANUAL_ENTRY_ACTION,
    label="Post a manual journal entry",
    permission=MANUAL_ENTRY_PERMISSION,
    run=run_manual_entry,
)


@transaction.atomic
def request_manual_entry(
    *,
    legs: Sequence[ManualLeg],
    description: str,
    reason: str,
    requested_by: User,
    entry_date: date | None = None,
    idempotency_key: str | None = None,
) -> ApprovalRequest:
    """Ask to book a manual entry (a reason is required); the amount compared with the action's
    threshold is its total debits. Refused at once (nothing stored) if it could not be booked."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the entry is booked by hand."]})
    _book_legs(legs)  # a bad leg is named before anything else is looked at
    key = idempotency_key or uuid.uuid4().hex
    return request_action(
        action=MANUAL_ENTRY_ACTION,
        target=f"ledger.manual_entry:{key}",
        payload={
            "legs": [leg.as_payload() for leg in legs],
            "description": description,
            "entry_date": _entry_date(entry_date).isoformat(),
            "idempotency_key": key,
        },
        amount=sum((leg.debit for leg in legs), ZERO),
        reason=reason,
        requested_by=requested_by,
    )
