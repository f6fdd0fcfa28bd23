"""Booking entries and charges through the services: balanced, once, never edited."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ledger import selectors, services
from ledger.inputs import Charge, Leg
from ledger.models import AccountType, Category, JournalEntry, OpenItem, OpenItemStatus, Posting
from ledger.parties import Party
from loanproject.core.errors import Conflict, DomainError

from .factories import AccountFactory, book, cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db

DRIVER = Party.of("loans.driver", 7)


def test_a_balanced_entry_is_booked_with_its_legs():
    cash, income = cash_account(), income_account()

    entry = book(cash, income, "125.50", key="fee-1")

    legs = list(entry.postings.order_by("pk").values_list("account__code", "debit", "credit", "currency"))
    assert legs == [
        ("1000", Decimal("125.50"), Decimal("0.00"), "USD"),
        ("4000", Decimal("0.00"), Decimal("125.50"), "USD"),
    ]
    assert selectors.account_balance(account=cash) == Decimal("125.50")
    assert selectors.account_balance(account=income) == Decimal("125.50")


@pytest.mark.parametrize(
    "legs, message",
    [
        ([("debit", "10.00"), ("credit", "9.99")], "does not balance in USD: debits 10.00, credits 9.99"),
        ([("debit", "10.00")], "at least two legs"),
        ([("debit", "0.00"), ("credit", "0.00")], "positive debit or a positive credit"),
        ([("debit", "-5.00"), ("credit", "-5.00")], "positive debit or a positive credit"),
        ([("debit", "1.005"), ("credit", "1.005")], "more than two decimal places"),
    ],
)
def test_a_bad_entry_is_refused_and_nothing_is_written(legs, message):
    cash, income = cash_account(), income_account()
    accounts = {"debit": cash, "credit": income}

    with pytest.raises(ValidationError, match=message):
        services.post_entry(
            idempotency_key="bad",
            entry_date=date(2026, 1, 4),
            description="bad",
            source="test",
            legs=[Leg(account=accounts[side], **{side: Decimal(amount)}) for side, amount in legs],
        )

    assert (JournalEntry.objects.count(), Posting.objects.count()) == (0, 0)


def test_an_entry_balances_per_currency_not_in_total():
    usd_cash, usd_income = cash_account(), income_account()
    eur_cash = AccountFactory(code="1001", currency="EUR")
    eur_income = AccountFactory(code="4001", currency="EUR", type=AccountType.INCOME)

    with pytest.raises(ValidationError, match="does not balance in EUR"):
        services.post_entry(
            idempotency_key="fx",
            entry_date=date(2026, 1, 4),
            description="fx",
            source="test",
            legs=[
                Leg(account=usd_cash, debit=Decimal("10.00")),
                Leg(account=eur_income, credit=Decimal("10.00")),
                Leg(account=eur_cash, debit=Decimal("10.00")),
                Leg(account=usd_income, credit=Decimal("10.00")),
                Leg(account=eur_income, credit=Decimal("1.00")),
            ],
        )

    assert JournalEntry.objects.count() == 0


def test_the_same_key_books_once():
    cash, income = cash_account(), income_account()
    first = book(cash, income, "10.00", key="once")

    with pytest.raises(services.EntryAlreadyBooked) as refused:
        book(cash, income, "10.00", key="once")

    assert refused.value.existing_entry_id == first.pk
    assert (JournalEntry.objects.count(), Posting.objects.count()) == (1, 2)


def test_an_inactive_account_takes_no_postings():
    cash, income = cash_account(), income_account()
    services.set_account_active(account_id=income.pk, is_active=False)
    income.refresh_from_db()

    with pytest.raises(DomainError, match="closed to new postings"):
        book(cash, income, "10.00", key="closed")

    assert JournalEntry.objects.count() == 0


def test_party_accounts_are_opened_once_per_category():
    loans = services.open_party_account(party=DRIVER, category=Category.LOANS, name="Driver 7")
    again = services.open_party_account(party=DRIVER, category=Category.LOANS)
    lease = services.open_party_account(party=DRIVER, category=Category.LEASE)

    assert loans == again
    assert loans != lease
    assert (loans.code, loans.type, loans.party_type, loans.party_id) == (
        "loans.driver:7:LOANS:USD",
        AccountType.ASSET,
        "loans.driver",
        "7",
    )
    assert loans.name == "Driver 7 Loans"


def test_open_account_refuses_a_code_of_another_type():
    services.open_account(code="4100", name="Interest income", type=AccountType.INCOME)

    with pytest.raises(Conflict, match="exists as income"):
        services.open_account(code="4100", name="Interest income", type=AccountType.ASSET)


# --- Charges -------------------------------------------------------------------------------------


def _charges(account, principal_account, interest_account, count: int, *, prefix: str = "c") -> list[Charge]:
    return [
        Charge(
            idempotency_key=f"{prefix}-{n}",
            entry_date=date(2026, 1, 4),
            due_date=date(2026, 1, 4),
            description=f"charge {n}",
            receivable_account_id=account.pk,
            credits=((principal_account.pk, Decimal("20.00")), (interest_account.pk, Decimal(f"1.{n:02d}"))),
            reference=f"ref-{n}",
        )
        for n in range(count)
    ]


def test_post_charges_books_an_entry_and_an_open_item_per_charge():
    account = receivable(DRIVER)
    principal = AccountFactory(code="1300")
    interest = income_account()

    posted = services.post_charges(charges=_charges(account, principal, interest, 3), source="test")

    assert sorted(posted) == ["c-0", "c-1", "c-2"]
    entry = JournalEntry.objects.get(pk=posted["c-1"].entry_id)
    assert list(entry.postings.order_by("account__code").values_list("account__code", "debit", "credit")) == [
        ("1300", Decimal("0.00"), Decimal("20.00")),
        ("4000", Decimal("0.00"), Decimal("1.01")),
        ("loans.driver:7:LOANS:USD", Decimal("21.01"), Decimal("0.00")),
    ]
    item = OpenItem.objects.get(pk=posted["c-1"].open_item_id)
    assert (item.amount, item.outstanding, item.status, item.reference, item.entry_id) == (
        Decimal("21.01"),
        Decimal("21.01"),
        OpenItemStatus.OPEN,
        "ref-1",
        entry.pk,
    )
    assert selectors.party_balance(party=DRIVER) == Decimal("63.03")


def test_post_charges_skips_keys_already_booked():
    account, principal, interest = receivable(DRIVER), AccountFactory(code="1300"), income_account()
    first = services.post_charges(charges=_charges(account, principal, interest, 2), source="test")

    second = services.post_charges(charges=_charges(account, principal, interest, 3), source="test")

    assert sorted(first) == ["c-0", "c-1"]
    assert sorted(second) == ["c-2"]
    assert (JournalEntry.objects.count(), OpenItem.objects.count(), Posting.objects.count()) == (3, 3, 9)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"credits": ()}, "at least one credit"),
        ({"credits": ((None, Decimal("0.00")),)}, "must be positive"),
        ({"receivable_account_id": "income"}, "must be an existing asset account"),
        ({"credits": (("eur", Decimal("5.00")),)}, "missing or in another currency"),
    ],
)
def test_post_charges_refuses_a_bad_batch_whole(change, message):
    account, principal, interest = receivable(DRIVER), AccountFactory(code="1300"), income_account()
    eur = AccountFactory(code="4999", currency="EUR", type=AccountType.INCOME)
    replacements = {"income": interest.pk, "eur": eur.pk, None: interest.pk}
    good, bad = _charges(account, principal, interest, 2)
    fields = {
        key: tuple((replacements.get(a, a), amount) for a, amount in value) if key == "credits" else replacements[value]
        for key, value in change.items()
    }
    bad = Charge(**{**bad.__dict__, **fields})

    with pytest.raises((DomainError, ValidationError), match=message):
        services.post_charges(charges=[good, bad], source="test")

    assert (JournalEntry.objects.count(), OpenItem.objects.count()) == (0, 0)


def test_post_charges_refuses_an_inactive_receivable():
    account, principal, interest = receivable(DRIVER), AccountFactory(code="1300"), income_account()
    services.set_account_active(account_id=account.pk, is_active=False)

    with pytest.raises(DomainError, match="closed to new postings"):
        services.post_charges(charges=_charges(account, principal, interest, 1), source="test")

    assert JournalEntry.objects.count() == 0


# --- Reversals -----------------------------------------------------------------------------------


def test_reversing_a_charge_books_its_mirror_and_closes_its_item():
    account, income = receivable(DRIVER), income_account()
    item = charge(account, income, "40.00", key="ch-1", due=date(2026, 1, 4))

    reversal = services.reverse_entry(entry_id=item.entry_id, reason="posted in error", reversal_date=date(2026, 1, 5))

    assert list(reversal.postings.order_by("account__code").values_list("account__code", "debit", "credit")) == [
        ("4000", Decimal("40.00"), Decimal("0.00")),
        ("loans.driver:7:LOANS:USD", Decimal("0.00"), Decimal("40.00")),
    ]
    assert (reversal.reversal_of_id, reversal.idempotency_key, reversal.source) == (
        item.entry_id,
        f"reversal:{item.entry_id}",
        "ledger.reversal",
    )
    item.refresh_from_db()
    assert (item.outstanding, item.status) == (Decimal("0.00"), OpenItemStatus.CLOSED)
    assert selectors.party_balance(party=DRIVER) == Decimal("0.00")


def test_an_entry_is_reversed_once_and_a_reversal_is_not_reversed():
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "10.00", key="r")
    reversal = services.reverse_entry(entry_id=entry.pk, reason="mistake")

    with pytest.raises(Conflict, match="already reversed"):
        services.reverse_entry(entry_id=entry.pk, reason="again")
    with pytest.raises(Conflict, match="itself a reversal"):
        services.reverse_entry(entry_id=reversal.pk, reason="undo")

    assert JournalEntry.objects.count() == 2
    assert selectors.account_balance(account=cash) == Decimal("0.00")


def test_a_paid_charge_cannot_be_reversed_until_its_payment_is():
    account, income, cash = receivable(DRIVER), income_account(), cash_account()
    item = charge(account, income, "40.00", key="ch-1", due=date(2026, 1, 4))
    payment = services.record_payment(
        party=DRIVER, amount=Decimal("15.00"), received_on=date(2026, 1, 6), idempotency_key="pay-1", cash_account=cash
    )

    with pytest.raises(Conflict, match="reverse the payments first"):
        services.reverse_entry(entry_id=item.entry_id, reason="error")
    services.reverse_entry(entry_id=payment.entry.pk, reason="cheque bounced")
    item.refresh_from_db()
    assert (item.outstanding, item.status) == (Decimal("40.00"), OpenItemStatus.OPEN)
    services.reverse_entry(entry_id=item.entry_id, reason="error")

    item.refresh_from_db()
    assert (item.outstanding, item.status) == (Decimal("0.00"), OpenItemStatus.CLOSED)
    assert selectors.account_balance(account=cash) == Decimal("0.00")
    assert selectors.party_balance(party=DRIVER) == Decimal("0.00")


def test_a_reversal_goes_through_on_a_closed_account():
    cash, income = cash_account(), income_account()
    entry = book(cash, income, "10.00", key="r")
    services.set_account_active(account_id=income.pk, is_active=False)

    services.reverse_entry(entry_id=entry.pk, reason="mistake")

    assert selectors.account_balance(account=income) == Decimal("0.00")


def test_reversing_needs_a_reason():
    entry = book(cash_account(), income_account(), "10.00", key="r")

    with pytest.raises(ValidationError, match="Say why"):
        services.reverse_entry(entry_id=entry.pk, reason="  ")

    assert JournalEntry.objects.count() == 1
