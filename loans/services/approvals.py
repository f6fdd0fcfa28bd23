"""The loans actions that need a second person (maker-checker, loanproject.core.approvals):
reversing a driver's payment, reversing an installment's posting, waiving a late fee
(late_fee_waivers.py), posting a past week again (past_week_postings.py), restructuring a
loan (restructuring.py), writing a loan off and reversing a recovery (write_offs.py). Each door
asks with `request_*`; the registered runner (apps.py) does it when approved, or at once below
the action's threshold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import transaction

from ledger.selectors import entry_amount
from loanproject.core.approvals import ApprovalAction, request_action
from loanproject.core.errors import NotFound

from ..models import Installment
from .late_fee_waivers import ACTION as WAIVE_LATE_FEE
from .loans import reverse_installment_posting
from .past_week_postings import ACTION as POST_PAST_WEEK
from .payments import reverse_driver_payment
from .restructuring import ACTION as RESTRUCTURE_LOAN
from .write_offs import ACTION as WRITE_OFF_LOAN
from .write_offs import REVERSE_RECOVERY

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from loanproject.core.models import ApprovalRequest

REVERSE_PAYMENT_ACTION = "loans.reverse_driver_payment"
REVERSE_POSTING_ACTION = "loans.reverse_installment_posting"


def run_payment_reversal(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    done = reverse_driver_payment(
        driver_id=payload["driver_id"], payment_entry_id=payload["entry_id"], reason=payload["reason"], actor=actor
    )
    return {
        "reversal_entry_id": done.reversal.pk,
        "reversed_entry_id": done.reversal.reversal_of_id,
        "reopened_loans": [loan.loan_number for loan in done.reopened_loans],
    }


def run_posting_reversal(*, payload: Mapping[str, Any], actor: User) -> dict[str, Any]:
    installment = reverse_installment_posting(
        installment_id=payload["installment_id"], reason=payload["reason"], actor=actor
    )
    return {"installment_id": installment.pk, "posting_attempt": installment.posting_attempt}


ACTIONS = [
    ApprovalAction(
        name=REVERSE_PAYMENT_ACTION,
        label="Reverse a driver's payment",
        permission="ledger.reverse_entry",
        run=run_payment_reversal,
    ),
    ApprovalAction(
        name=REVERSE_POSTING_ACTION,
        label="Reverse an installment's posting",
        permission="ledger.reverse_entry",
        run=run_posting_reversal,
    ),
    WAIVE_LATE_FEE,
    POST_PAST_WEEK,
    RESTRUCTURE_LOAN,
    WRITE_OFF_LOAN,
    REVERSE_RECOVERY,
]


@transaction.atomic
def request_driver_payment_reversal(
    *, driver_id: int, payment_entry_id: int, reason: str, requested_by: User
) -> ApprovalRequest:
    """Ask to reverse a driver's payment (a bounced cheque); its amount is compared with the threshold."""
    return request_action(
        action=REVERSE_PAYMENT_ACTION,
        target=f"ledger.entry:{payment_entry_id}",
        payload={"driver_id": driver_id, "entry_id": payment_entry_id, "reason": reason},
        amount=entry_amount(payment_entry_id),
        reason=reason,
        requested_by=requested_by,
    )


@transaction.atomic
def request_installment_posting_reversal(*, installment_id: int, reason: str, requested_by: User) -> ApprovalRequest:
    """Ask to reverse an installment's posting; its amount is compared with the threshold."""
    amount = Installment.objects.filter(pk=installment_id).values_list("amount", flat=True).first()
    if amount is None:
        raise NotFound("No such installment.")
    return request_action(
        action=REVERSE_POSTING_ACTION,
        target=f"loans.installment:{installment_id}",
        payload={"installment_id": installment_id, "reason": reason},
        amount=amount,
        reason=reason,
        requested_by=requested_by,
    )
