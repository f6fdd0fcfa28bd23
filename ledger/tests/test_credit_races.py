"""Races on a party's credit (PostgreSQL, real threads): it is spent once, whoever asks at once."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import selectors, services
from ledger.models import JournalEntry, OpenItem
from ledger.parties import Party
from loanproject.core.errors import Conflict
from loanproject.core.testing import run_together

from .factories import cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db(transaction=True)

DRIVER = Party.of("loans.driver", 7)


def prepaid(amount: str = "100.00") -> JournalEntry:
    services.record_payment(
        party=DRIVER,
        amount=Decimal(amount),
        received_on=date(2026, 1, 6),
        idempotency_key="prepaid",
        cash_account=cash_account(),
    )
    return JournalEntry.objects.get(idempotency_key="prepaid")


def test_two_applications_of_one_credit_at_once_spend_it_once():
    prepaid("100.00")
    first = charge(receivable(DRIVER), income_account(), "60.00", key="loan-1", due=date(2026, 1, 4))
    second = charge(receivable(DRIVER), income_account(), "60.00", key="loan-2", due=date(2026, 1, 11))

    results = run_together(*[lambda: services.apply_party_credit(party=DRIVER)] * 2)

    assert not any(isinstance(result, Exception) for result in results), results
    applied = [result for result in results if result is not None]
    assert [(a.applied, a.credit_left) for a in applied] == [(Decimal("100.00"), Decimal("0.00"))]
    assert {i.pk: i.outstanding for i in OpenItem.objects.filter(pk__in=[first.pk, second.pk])} == {
        first.pk: Decimal("0.00"),
        second.pk: Decimal("20.00"),
    }
    assert selectors.party_balance(party=DRIVER) == Decimal("20.00")
    assert JournalEntry.objects.filter(source="ledger.credit").count() == 1


def test_an_application_racing_the_payments_reversal_leaves_one_consistent_outcome():
    payment = prepaid("100.00")
    item = charge(receivable(DRIVER), income_account(), "60.00", key="loan-1", due=date(2026, 1, 4))

    applied, reversed_ = run_together(
        lambda: services.apply_party_credit(party=DRIVER),
        lambda: services.reverse_payment(party=DRIVER, entry_id=payment.pk, reason="cheque bounced"),
    )

    item.refresh_from_db()
    credit_entries = JournalEntry.objects.filter(source="ledger.credit").count()
    if isinstance(reversed_, Conflict):  # the application went first: the payment's credit is spent
        assert (applied.applied, credit_entries) == (Decimal("60.00"), 1)
        assert (item.outstanding, selectors.party_balance(party=DRIVER)) == (Decimal("0.00"), Decimal("-40.00"))
    else:  # the reversal went first: no credit was left to apply
        assert not isinstance(reversed_, Exception), reversed_
        assert (applied, credit_entries) == (None, 0)
        assert (item.outstanding, selectors.party_balance(party=DRIVER)) == (Decimal("60.00"), Decimal("60.00"))
    assert selectors.account_balance(account=cash_account()) == (
        Decimal("100.00") if credit_entries else Decimal("0.00")
    )
