"""Row locks taken before state changes (SELECT ... FOR UPDATE, always in pk order)."""

from __future__ import annotations

from loanproject.core.errors import NotFound

from .models import DriverLoan, Installment


def lock_loan(loan_id: int) -> DriverLoan:
    try:
        return DriverLoan.objects.select_for_update(of=("self",)).get(pk=loan_id)
    except (DriverLoan.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such loan.") from None


def lock_installments_of(loan_id: int) -> list[Installment]:
    """All the loan's installments; waits for a posting run that holds one of them."""
    try:
        return list(Installment.objects.select_for_update(of=("self",)).filter(loan_id=loan_id).order_by("pk"))
    except (ValueError, TypeError):
        raise NotFound("No such loan.") from None


def lock_installment(installment_id: int) -> Installment:
    try:
        return Installment.objects.select_for_update(of=("self",)).select_related("loan").get(pk=installment_id)
    except (Installment.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such installment.") from None
