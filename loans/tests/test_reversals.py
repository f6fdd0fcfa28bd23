"""Undoing loan entries keeps loans and the book in step, whichever door is used.

The ledger admin reverses only what the ledger booked (payments, credit); an installment's entry
is reversed through the loans service, a disbursement through cancelling the loan.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger import selectors as ledger_selectors
from ledger.models import JournalEntry, OpenItem, OpenItemStatus
from loanproject.core import topics
from loanproject.core.admin.actions import APPROVAL_ASKED
from loanproject.core.errors import NotFound
from loanproject.core.outbox import relay_pending_events
from loanproject.core.testing import approve_waiting_requests
from loans import services
from loans.accounts import driver_party
from loans.models import InstallmentStatus, LoanStatus
from loans.selectors import installments_with_payments

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db

LEDGER_REVERSE = "admin:ledger_journalentry_changelist"


def reverse_in_ledger_admin(client, entry_id: int) -> list[str]:
    """Ask in the ledger admin, then a second person approves (maker-checker)."""
    response = client.post(
        reverse(LEDGER_REVERSE),
        {"action": "reverse_entries", "_selected_action": [entry_id], "apply": "1", "reason": "bounced"},
        follow=True,
    )
    approve_waiting_requests()
    return [str(message) for message in response.context["messages"]]


def schedule(loan) -> list[tuple[int, str, str, Decimal]]:
    return [
        (i.sequence, i.status, i.payment_state, i.outstanding) for i in installments_with_payments().filter(loan=loan)
    ]


def paid_off_loan():
    """A loan of two 100.00 installments, both posted and paid by one payment: closed."""
    loan = make_loan(principal="200.00", weeks=2)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    payment = services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("230.00"), received_on=SUNDAY, idempotency_key="bank-1"
    )
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED
    return loan, payment


def test_the_ledger_admin_refuses_an_installments_entry_and_nothing_changes(admin_client):
    loan = make_loan(principal="200.00", weeks=2)
    services.post_weekly_installments(**week(SUNDAY))
    installment = loan.installments.get(sequence=1)

    messages = reverse_in_ledger_admin(admin_client, installment.posted_entry_id)

    assert messages == [
        f"#{installment.posted_entry_id}: Entry #{installment.posted_entry_id} was booked by loans.installment: reverse it "
        "there (it keeps its own records in step), not in the ledger."
    ]
    assert schedule(loan) == [
        (1, "posted", "unpaid", Decimal("100.00")),
        (2, "scheduled", "scheduled", Decimal("100.00")),
    ]
    assert not JournalEntry.objects.filter(reversal_of_id=installment.posted_entry_id).exists()
    assert services.close_settled_loans(driver_id=loan.driver_id) == []


def test_the_ledger_admin_refuses_a_disbursement_and_the_loan_stays_active(admin_client):
    loan = make_loan(principal="200.00", weeks=2)

    messages = reverse_in_ledger_admin(admin_client, loan.disbursement_entry_id)

    assert messages == [
        f"#{loan.disbursement_entry_id}: Entry #{loan.disbursement_entry_id} was booked by loans.disbursement: reverse it "
        "there (it keeps its own records in step), not in the ledger."
    ]
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE
    assert not JournalEntry.objects.filter(reversal_of_id=loan.disbursement_entry_id).exists()


def test_cancelling_reverses_the_disbursement_on_behalf_of_the_loan():
    loan = make_loan(principal="200.00", weeks=2)

    services.cancel_loan(loan_id=loan.pk, reason="not needed", actor=StaffUserFactory())

    reversal = JournalEntry.objects.get(reversal_of_id=loan.disbursement_entry_id)
    assert reversal.source == "ledger.reversal"
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CANCELLED


def test_reversing_a_driver_payment_reopens_its_installments_and_the_loan():
    loan, payment = paid_off_loan()

    result = services.reverse_driver_payment(
        driver_id=loan.driver_id,
        payment_entry_id=payment.payment.entry.pk,
        reason="cheque bounced",
        actor=StaffUserFactory(),
    )

    loan.refresh_from_db()
    assert result.reopened_loans == [loan]
    assert (loan.status, loan.closed_at) == (LoanStatus.ACTIVE, None)
    assert schedule(loan) == [(1, "posted", "unpaid", Decimal("100.00")), (2, "posted", "unpaid", Decimal("100.00"))]
    assert result.reversal.reversal_of_id == payment.payment.entry.pk
    # The 30.00 of credit is taken back with the payment: the driver owes both installments.
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("200.00")


def test_a_payment_of_another_driver_is_not_reversed():
    loan, payment = paid_off_loan()
    other = make_loan()

    with pytest.raises(NotFound, match="is not a payment of"):
        services.reverse_driver_payment(
            driver_id=other.driver_id, payment_entry_id=payment.payment.entry.pk, reason="x", actor=StaffUserFactory()
        )

    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED
    assert not JournalEntry.objects.filter(source="ledger.reversal").exists()


def test_a_payment_reversed_in_the_ledger_admin_reopens_the_loan_through_the_outbox(admin_client, settings):
    settings.OUTBOX_SUBSCRIPTIONS = {
        **settings.OUTBOX_SUBSCRIPTIONS,
        topics.LEDGER_ENTRY_REVERSED: ["loans.reopen_unsettled_loans"],
    }
    loan, payment = paid_off_loan()

    messages = reverse_in_ledger_admin(admin_client, payment.payment.entry.pk)

    assert messages == [APPROVAL_ASKED.format(what="the reversal of 1 entr(y/ies)")]
    assert schedule(loan) == [(1, "posted", "unpaid", Decimal("100.00")), (2, "posted", "unpaid", Decimal("100.00"))]
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED  # until the event is relayed

    relay_pending_events()  # the subscriber runs eagerly in tests

    loan.refresh_from_db()
    assert (loan.status, loan.closed_at) == (LoanStatus.ACTIVE, None)
    relay_pending_events()
    assert services.reopen_unsettled_loans(driver_id=loan.driver_id) == []


def test_an_installment_posting_is_reversed_through_loans_and_posted_again():
    loan = make_loan(principal="200.00", weeks=2)
    services.post_weekly_installments(**week(SUNDAY))
    installment = loan.installments.get(sequence=1)
    entry_id = installment.posted_entry_id

    services.reverse_installment_posting(installment_id=installment.pk, reason="billed twice", actor=StaffUserFactory())

    installment.refresh_from_db()
    assert (installment.status, installment.posted_entry_id, installment.posting_attempt) == (
        InstallmentStatus.SCHEDULED,
        None,
        2,
    )
    assert OpenItem.objects.get(entry_id=entry_id).status == OpenItemStatus.CLOSED
    assert schedule(loan)[0] == (1, "scheduled", "scheduled", Decimal("100.00"))
    assert services.close_settled_loans(driver_id=loan.driver_id) == []
