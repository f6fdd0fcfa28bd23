"""Named CHECK and UNIQUE constraints refuse bad rows written around the services."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from ledger import services
from ledger.models import Account, JournalEntry, OpenItem, PaymentAllocation, Posting
from ledger.parties import Party

from .factories import AccountFactory, book, cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db

DRIVER = Party.of("loans.driver", 7)


@pytest.mark.parametrize(
    "legs, constraint",
    [
        ({"debit": Decimal("1.00"), "credit": Decimal("1.00")}, "posting_one_side"),
        ({"debit": Decimal("0"), "credit": Decimal("0")}, "posting_one_side"),
        ({"debit": Decimal("-1.00")}, "posting_debit_not_negative"),
        ({"credit": Decimal("-1.00")}, "posting_credit_not_negative"),
        ({"debit": Decimal("1.00"), "currency": "usd"}, "posting_currency_iso"),
    ],
)
def test_a_leg_has_one_positive_side(legs, constraint):
    entry = book(cash_account(), income_account(), "1.00", key="e")

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Posting.objects.bulk_create(
            [Posting(entry=entry, account=entry.postings.first().account, **{"currency": "USD", **legs})]
        )

    assert entry.postings.count() == 2


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"outstanding": Decimal("10.01")}, "open_item_outstanding_within_amount"),
        ({"amount": Decimal("0"), "outstanding": Decimal("0")}, "open_item_amount_positive"),
        ({"outstanding": Decimal("0")}, "open_item_open_while_outstanding"),
        ({"status": "closed"}, "open_item_open_while_outstanding"),
    ],
)
def test_open_item_constraints(changes, constraint):
    item = charge(receivable(DRIVER), income_account(), "10.00", key="c", due=date(2026, 1, 4))

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        OpenItem.objects.filter(pk=item.pk).update(**changes)

    item.refresh_from_db()
    assert (item.outstanding, item.status) == (Decimal("10.00"), "open")


@pytest.mark.parametrize(
    "fields, constraint",
    [
        ({"type": "cash"}, "ledger_account_type_known"),
        ({"currency": "US"}, "ledger_account_currency_iso"),
        ({"category": "RENT"}, "ledger_account_category_known"),
        ({"party_type": "loans.driver"}, "ledger_account_party_complete"),
    ],
)
def test_account_constraints(fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Account.objects.create(code="X", name="x", **{"type": "asset", "currency": "USD", **fields})

    assert not Account.objects.filter(code="X").exists()


def test_a_party_has_one_account_per_category_type_and_currency():
    receivable(DRIVER)

    with pytest.raises(IntegrityError, match="ledger_account_party_ledger_unique"), transaction.atomic():
        AccountFactory(code="dup", party_type="loans.driver", party_id="7", category="LOANS")

    assert Account.objects.filter(party_id="7").count() == 1


def test_an_idempotency_key_is_unique_in_the_database():
    entry = book(cash_account(), income_account(), "1.00", key="k")

    with pytest.raises(IntegrityError, match="journal_entry_idempotency_key_unique"), transaction.atomic():
        JournalEntry.objects.create(idempotency_key="k", entry_date=date(2026, 1, 4), description="again", source="t")

    assert JournalEntry.objects.get() == entry


def test_an_entry_is_reversed_at_most_once_in_the_database():
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "1.00", key="k")
    services.reverse_entry(entry_id=entry.pk, reason="mistake")

    with pytest.raises(IntegrityError, match="journal_entry_reversed_once"), transaction.atomic():
        JournalEntry.objects.create(
            idempotency_key="r2", entry_date=date(2026, 1, 4), description="r", source="t", reversal_of=entry
        )

    assert JournalEntry.objects.filter(reversal_of=entry).count() == 1


def test_an_allocation_is_positive_and_once_per_item():
    item = charge(receivable(DRIVER), income_account(), "10.00", key="c", due=date(2026, 1, 4))
    payment = book(cash_account(), receivable(DRIVER), "1.00", key="p")
    PaymentAllocation.objects.create(payment_entry=payment, item=item, amount=Decimal("1.00"))

    with pytest.raises(IntegrityError, match="payment_allocation_once_per_item"), transaction.atomic():
        PaymentAllocation.objects.create(payment_entry=payment, item=item, amount=Decimal("1.00"))
    with pytest.raises(IntegrityError, match="payment_allocation_amount_positive"), transaction.atomic():
        PaymentAllocation.objects.filter(item=item).update(amount=Decimal("0"))
