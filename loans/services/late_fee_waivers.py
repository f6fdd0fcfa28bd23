"""Waiving a late fee: what is still outstanding on its item is given up (Dr 4200 late fee
income / Cr the driver's PENALTY receivable) and the item closes as waived.

A waiver is maker-checker (loanproject.core.approvals): doors ask with `request_late_fee_waiver`
(a reason is required); a second person with `loans.waive_late_fee` approves, and the registered
runner (`run_late_fee_waiver`, apps.py) calls `waive_late_fee` in the approving transaction, or at
once below the action's threshold. The requester never approves their own request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ledger import services as ledger
from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.errors import Conflict, NotFound
from loanproject.core.rules import validated_save

from .. import accounts
from ..models import LateFee, LateFeeStatus
from ..periods import business_today

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

WAIVE_LATE_FEE_ACTION = "loans.waive_late_fee"
WAIVE_LATE_FEE_PERMISSION = "loans.waive_late_fee"
WAIVER_SOURCE = "loans.late_fee_waiver"


def waiver_key(late_fee_id: int) -> str:
    return f"{WAIVER_SOURCE}:{late_fee_id}"


def _lock_fee(late_fee_id: int) -> LateFee:
    fee = (
        LateFee.objects.select_for_update(of=("self",))
        .select_related("loan", "installment")
        .filter(pk=late_fee_id)
        .first()
    )
    if fee is None:
        raise NotFound("No such late fee.")
    return fee


@transaction.atomic
def waive_late_fee(*, late_fee_id: int, reason: str, actor: User) -> LateFee:
    """Waive what is outstanding of the fee: Dr 4200 / Cr the driver's PENALTY receivable, the
    item closed as waived, the fee marked waived (by `actor`, with `reason`). Refused when it was
    waived before or nothing is outstanding (paid in full). Call it through maker-checker."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the late fee is waived."]})
    fee = _lock_fee(late_fee_id)
    if fee.status == LateFeeStatus.WAIVED:
        raise Conflict(f"The late fee on {fee.loan} #{fee.installment.sequence} is already waived.", code="waived")
    entry = ledger.waive_open_item(
        item_id=fee.open_item_id,
        debit_account=accounts.late_fee_income_account(),
        idempotency_key=waiver_key(fee.pk),
        source=WAIVER_SOURCE,
        description=f"Waiver of the {fee.loan} late fee on installment {fee.installment.sequence}: {reason}"[:255],
        entry_date=business_today(),
        created_by=actor,
    )
    fee.status, fee.waiver_entry, fee.waived_at, fee.waived_by = LateFeeStatus.WAIVED, entry, timezone.now(), actor
    fee.waiver_reason = reason[:500]
    validated_save(fee)
    return fee


def run_late_fee_waiver(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    """The approved request's action (registered in apps.py)."""
    fee = waive_late_fee(late_fee_id=payload["late_fee_id"], reason=payload["reason"], actor=actor)
    assert fee.waiver_entry is not None
    waived = sum((leg.credit for leg in fee.waiver_entry.postings.all()), start=fee.amount * 0)
    return {"late_fee_id": fee.pk, "waiver_entry_id": fee.waiver_entry_id, "waived": str(waived)}


ACTION = ApprovalAction(
    name=WAIVE_LATE_FEE_ACTION, label="Waive a late fee", permission=WAIVE_LATE_FEE_PERMISSION, run=run_late_fee_waiver
)


@transaction.atomic
def request_late_fee_waiver(*, late_fee_id: int, reason: str, requested_by: User) -> ApprovalRequest:
    """Ask to waive a late fee (a reason is required); the amount compared with the action's
    threshold is what is still outstanding of it. Refused at once if it could not be waived."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the late fee is waived."]})
    outstanding = LateFee.objects.filter(pk=late_fee_id).values_list("open_item__outstanding", flat=True).first()
    if outstanding is None:
        raise NotFound("No such late fee.")
    return request_action(
        action=WAIVE_LATE_FEE_ACTION,
        target=f"loans.late_fee:{late_fee_id}",
        payload={"late_fee_id": late_fee_id, "reason": reason.strip()},
        amount=outstanding,
        reason=reason,
        requested_by=requested_by,
    )
