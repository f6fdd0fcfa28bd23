"""Payments are allocated to a party's open items: category order first, oldest first within."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ledger import selectors, services
from ledger.models import AccountType, Category, JournalEntry, OpenItemStatus, PaymentAllocation
from ledger.parties import Party
from loanproject.core import topics
from loanproject.core.errors import IdempotencyKeyReused
from loanproject.core.models import OutboxEvent

from .factories import cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db

DRIVER = Party.of("loans.driver", 7)
OTHER_DRIVER = Party.of("loans.driver", 8)


@pytest.fixture
def items():
    """Four open items of one driver in three categories, plus one of another driver."""
    income = income_account()
    return {
        "loan_new": charge(receivable(DRIVER, Category.LOANS), income, "30.00", key="loan-2", due=date(2026, 1, 11)),
        "loan_old": charge(receivable(DRIVER, Category.LOANS), income, "30.00", key="loan-1", due=date(2026, 1, 4)),
        "lease": charge(receivable(DRIVER, Category.LEASE), income, "50.00", key="lease-1", due=date(2025, 12, 28)),
        "ezpass": charge(receivable(DRIVER, Category.EZPASS), income, "5.00", key="ez-1", due=date(2025, 12, 1)),
        "other": charge(receivable(OTHER_DRIVER, Category.LOANS), income, "99.00", key="other-1", due=date(2025, 1, 1)),
    }


def pay(amount: str, *, key: str = "pay-1", party: Party = DRIVER, **kwargs):
    return services.record_payment(
        party=party,
        amount=Decimal(amount),
        received_on=date(2026, 1, 12),
        idempotency_key=key,
        cash_account=cash_account(),
        **kwargs,
    )


def outstanding(items) -> dict[str, Decimal]:
    return {name: type(item).objects.get(pk=item.pk).outstanding for name, item in items.items()}


def test_a_payment_pays_categories_in_the_configured_order_oldest_first(items, settings):
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER = ["LOANS", "LEASE", "EZPASS", "PVB", "TLC", "MISC"]

    result = pay("70.00")

    assert [(a.item.reference, a.amount) for a in result.allocations] == [
        ("loan-1", Decimal("30.00")),
        ("loan-2", Decimal("30.00")),
        ("lease-1", Decimal("10.00")),
    ]
    assert outstanding(items) == {
        "loan_new": Decimal("0.00"),
        "loan_old": Decimal("0.00"),
        "lease": Decimal("40.00"),
        "ezpass": Decimal("5.00"),
        "other": Decimal("99.00"),
    }
    assert (result.applied, result.credit) == (Decimal("70.00"), Decimal("0.00"))


def test_another_order_pays_other_items_first(items, settings):
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER = ["EZPASS", "LEASE", "LOANS"]

    pay("60.00")

    assert outstanding(items) == {
        "loan_new": Decimal("30.00"),
        "loan_old": Decimal("25.00"),
        "lease": Decimal("0.00"),
        "ezpass": Decimal("0.00"),
        "other": Decimal("99.00"),
    }


def test_categories_left_out_of_the_order_come_last(items):
    pay("65.00", categories=["LEASE"])

    assert outstanding(items)["lease"] == Decimal("0.00")
    assert outstanding(items)["ezpass"] == Decimal("0.00")  # oldest of the rest
    assert outstanding(items)["loan_old"] == Decimal("20.00")


def test_items_close_when_paid_and_the_entry_credits_each_receivable(items, settings):
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER = ["LOANS", "LEASE", "EZPASS"]

    result = pay("70.00")

    items["loan_old"].refresh_from_db()
    items["lease"].refresh_from_db()
    assert (items["loan_old"].status, items["loan_old"].closed_at is not None) == (OpenItemStatus.CLOSED, True)
    assert items["lease"].status == OpenItemStatus.OPEN
    assert sorted(result.entry.postings.values_list("account__code", "debit", "credit")) == [
        ("1000", Decimal("70.00"), Decimal("0.00")),
        ("loans.driver:7:LEASE:USD", Decimal("0.00"), Decimal("10.00")),
        ("loans.driver:7:LOANS:USD", Decimal("0.00"), Decimal("60.00")),
    ]
    assert selectors.party_balance(party=DRIVER) == Decimal("45.00")


def test_an_overpayment_stays_as_the_partys_credit(items):
    result = pay("200.00")

    assert (result.applied, result.credit) == (Decimal("115.00"), Decimal("85.00"))
    credit_leg = result.entry.postings.get(account__type=AccountType.LIABILITY)
    assert (credit_leg.account.code, credit_leg.credit) == ("loans.driver:7:liability:USD", Decimal("85.00"))
    assert selectors.party_balance(party=DRIVER) == Decimal("-85.00")
    assert selectors.party_balance(party=OTHER_DRIVER) == Decimal("99.00")


def test_a_payment_without_open_items_is_all_credit():
    result = pay("20.00")

    assert (result.applied, result.credit, result.allocations) == (Decimal("0.00"), Decimal("20.00"), [])


def test_the_same_key_replays_the_first_payment(items):
    first = pay("40.00")

    replay = pay("40.00")

    assert replay.replayed and not first.replayed
    assert replay.entry == first.entry
    assert [(a.item_id, a.amount) for a in replay.allocations] == [(a.item_id, a.amount) for a in first.allocations]
    assert (JournalEntry.objects.filter(source="ledger.payment").count(), PaymentAllocation.objects.count()) == (
        1,
        len(first.allocations),
    )
    assert OutboxEvent.objects.filter(topic=topics.LEDGER_PAYMENT_RECORDED).count() == 1


def test_the_same_key_with_another_amount_is_refused(items):
    pay("40.00")
    before = outstanding(items)

    with pytest.raises(IdempotencyKeyReused):
        pay("41.00")

    assert outstanding(items) == before


@pytest.mark.parametrize("amount", ["0.00", "-5.00", "1.001"])
def test_a_bad_amount_is_refused_and_changes_nothing(items, amount):
    before = outstanding(items)

    with pytest.raises(ValidationError):
        pay(amount)

    assert outstanding(items) == before
    assert not JournalEntry.objects.filter(source="ledger.payment").exists()


def test_a_payment_announces_itself_in_the_outbox(items):
    result = pay("10.00")

    event = OutboxEvent.objects.get(topic=topics.LEDGER_PAYMENT_RECORDED)
    assert event.aggregate_id == str(result.entry.pk)
    assert event.payload == {
        "entry_id": result.entry.pk,
        "party_type": "loans.driver",
        "party_id": "7",
        "amount": "10.00",
        "applied": "10.00",
        "credit": "0.00",
        "currency": "USD",
    }


def test_a_payment_for_given_items_pays_only_those_and_leaves_the_rest_as_credit(items):
    result = pay("100.00", only_items=[items["loan_new"].pk, items["lease"].pk, items["other"].pk])

    # The other driver's item is not this party's: never paid, even when named.
    assert sorted((a.item.reference, a.amount) for a in result.allocations) == [
        ("lease-1", Decimal("50.00")),
        ("loan-2", Decimal("30.00")),
    ]
    assert (result.applied, result.credit) == (Decimal("80.00"), Decimal("20.00"))
    assert outstanding(items) == {
        "loan_new": Decimal("0.00"),
        "loan_old": Decimal("30.00"),
        "lease": Decimal("0.00"),
        "ezpass": Decimal("5.00"),
        "other": Decimal("99.00"),
    }
    assert selectors.party_credit(party=DRIVER) == Decimal("20.00")
