"""Reversals: only the owner of an entry reverses it; payments and credit come undone exactly."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import selectors, services
from ledger.inputs import Charge
from ledger.models import JournalEntry, OpenItem, OpenItemStatus
from ledger.parties import Party
from loanproject.core import topics
from loanproject.core.errors import Conflict, NotFound
from loanproject.core.models import OutboxEvent

from .factories import cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db

DRIVER = Party.of("loans.driver", 7)
OTHER = Party.of("loans.driver", 8)


def foreign_charge(amount: str = "40.00", *, key: str = "inst-1", source: str = "loans.installment") -> OpenItem:
    """A charge booked by another app (its source is not the ledger's)."""
    posted = services.post_charges(
        charges=[
            Charge(
                key,
                date(2026, 1, 4),
                date(2026, 1, 4),
                key,
                receivable(DRIVER).pk,
                ((income_account().pk, Decimal(amount)),),
                key,
            )
        ],
        source=source,
    )
    return OpenItem.objects.get(pk=posted[key].open_item_id)


def pay(amount: str, *, key: str, party: Party = DRIVER):
    return services.record_payment(
        party=party,
        amount=Decimal(amount),
        received_on=date(2026, 1, 6),
        idempotency_key=key,
        cash_account=cash_account(),
    )


@pytest.mark.parametrize("on_behalf_of_source", [None, "loans.disbursement", "ledger.manual"])
def test_an_entry_of_another_app_is_refused_unless_that_app_asks(on_behalf_of_source):
    item = foreign_charge()

    with pytest.raises(services.EntryOwnedElsewhere, match=f"#{item.entry_id} was booked by loans.installment"):
        services.reverse_entry(entry_id=item.entry_id, reason="wrong door", on_behalf_of_source=on_behalf_of_source)

    item.refresh_from_db()
    assert (item.status, item.outstanding) == (OpenItemStatus.OPEN, Decimal("40.00"))
    assert not JournalEntry.objects.filter(reversal_of_id=item.entry_id).exists()
    assert not OutboxEvent.objects.filter(topic=topics.LEDGER_ENTRY_REVERSED).exists()


def test_the_owning_app_reverses_its_entry_and_the_reversal_is_announced():
    item = foreign_charge()

    reversal = services.reverse_entry(
        entry_id=item.entry_id, reason="billed in error", on_behalf_of_source="loans.installment"
    )

    item.refresh_from_db()
    assert (item.status, item.outstanding) == (OpenItemStatus.CLOSED, Decimal("0.00"))
    event = OutboxEvent.objects.get(topic=topics.LEDGER_ENTRY_REVERSED)
    assert (event.aggregate_type, event.aggregate_id) == ("ledger.JournalEntry", str(item.entry_id))
    assert event.payload == {
        "entry_id": item.entry_id,
        "reversal_entry_id": reversal.pk,
        "source": "loans.installment",
        "parties": [{"party_type": "loans.driver", "party_id": "7"}],
    }


def test_a_payment_is_reversed_in_the_ledger_and_its_items_are_due_again():
    item = charge(receivable(DRIVER), income_account(), "40.00", key="ch-1", due=date(2026, 1, 4))
    payment = pay("50.00", key="pay-1")  # 40.00 to the item, 10.00 credit

    services.reverse_payment(party=DRIVER, entry_id=payment.entry.pk, reason="cheque bounced")

    item.refresh_from_db()
    assert (item.status, item.outstanding, item.closed_at) == (OpenItemStatus.OPEN, Decimal("40.00"), None)
    assert selectors.party_balance(party=DRIVER) == Decimal("40.00")
    assert selectors.account_balance(account=cash_account()) == Decimal("0.00")


def test_a_payment_of_another_party_or_a_charge_is_not_reversed_as_a_payment():
    item = charge(receivable(DRIVER), income_account(), "40.00", key="ch-1", due=date(2026, 1, 4))
    payment = pay("10.00", key="pay-1")

    with pytest.raises(NotFound, match=r"not a payment of loans\.driver:8"):
        services.reverse_payment(party=OTHER, entry_id=payment.entry.pk, reason="x")
    with pytest.raises(NotFound, match="not a payment"):
        services.reverse_payment(party=DRIVER, entry_id=item.entry_id, reason="x")

    item.refresh_from_db()
    assert item.outstanding == Decimal("30.00")
    assert JournalEntry.objects.filter(source="ledger.reversal").count() == 0


# --- Credit ----------------------------------------------------------------------------------------


def test_credit_pays_later_charges_in_allocation_order(settings):
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER = ["LOANS", "LEASE"]
    pay("100.00", key="prepaid")  # no items yet: all credit
    lease = charge(receivable(DRIVER, "LEASE"), income_account(), "30.00", key="lease-1", due=date(2026, 1, 4))
    loan_new = charge(receivable(DRIVER), income_account(), "45.00", key="loan-2", due=date(2026, 1, 11))
    loan_old = charge(receivable(DRIVER), income_account(), "45.00", key="loan-1", due=date(2026, 1, 4))
    other = charge(receivable(OTHER), income_account(), "10.00", key="other", due=date(2026, 1, 1))

    applied = services.apply_party_credit(party=DRIVER, applied_on=date(2026, 1, 12))

    assert (applied.applied, applied.credit_left) == (Decimal("100.00"), Decimal("0.00"))
    assert [(a.item.reference, a.amount) for a in applied.allocations] == [
        ("loan-1", Decimal("45.00")),
        ("loan-2", Decimal("45.00")),
        ("lease-1", Decimal("10.00")),
    ]
    outstanding = {
        i.reference: i.outstanding
        for i in OpenItem.objects.filter(pk__in=[lease.pk, loan_new.pk, loan_old.pk, other.pk])
    }
    assert outstanding == {
        "loan-1": Decimal("0.00"),
        "loan-2": Decimal("0.00"),
        "lease-1": Decimal("20.00"),
        "other": Decimal("10.00"),
    }
    assert sorted(applied.entry.postings.values_list("account__code", "debit", "credit")) == [
        ("loans.driver:7:LEASE:USD", Decimal("0.00"), Decimal("10.00")),
        ("loans.driver:7:LOANS:USD", Decimal("0.00"), Decimal("90.00")),
        ("loans.driver:7:liability:USD", Decimal("100.00"), Decimal("0.00")),
    ]
    assert (applied.entry.source, applied.entry.entry_date) == ("ledger.credit", date(2026, 1, 12))
    assert selectors.party_balance(party=DRIVER) == Decimal("20.00")


def test_credit_larger_than_the_charges_is_kept_for_the_next_ones():
    pay("100.00", key="prepaid")
    charge(receivable(DRIVER), income_account(), "30.00", key="loan-1", due=date(2026, 1, 4))

    first = services.apply_party_credit(party=DRIVER)
    nothing_open = services.apply_party_credit(party=DRIVER)
    charge(receivable(DRIVER), income_account(), "30.00", key="loan-2", due=date(2026, 1, 11))
    second = services.apply_party_credit(party=DRIVER)

    assert (first.applied, first.credit_left) == (Decimal("30.00"), Decimal("70.00"))
    assert nothing_open is None
    assert (second.applied, second.credit_left) == (Decimal("30.00"), Decimal("40.00"))
    assert first.entry.idempotency_key != second.entry.idempotency_key
    assert selectors.party_balance(party=DRIVER) == Decimal("-40.00")


def test_no_credit_applies_nothing_and_writes_nothing():
    charge(receivable(DRIVER), income_account(), "30.00", key="loan-1", due=date(2026, 1, 4))
    entries = JournalEntry.objects.count()

    assert services.apply_party_credit(party=DRIVER) is None  # no credit account at all
    pay("30.00", key="exact")  # pays the item, leaves no credit
    charge(receivable(DRIVER), income_account(), "30.00", key="loan-2", due=date(2026, 1, 11))
    assert services.apply_party_credit(party=DRIVER) is None  # a credit account, but empty

    assert JournalEntry.objects.count() == entries + 2


def test_a_payment_whose_credit_was_applied_is_reversed_after_the_application():
    pay("100.00", key="prepaid")
    item = charge(receivable(DRIVER), income_account(), "60.00", key="loan-1", due=date(2026, 1, 4))
    applied = services.apply_party_credit(party=DRIVER)
    payment = JournalEntry.objects.get(idempotency_key="prepaid")

    with pytest.raises(Conflict, match="applied to later charges since"):
        services.reverse_payment(party=DRIVER, entry_id=payment.pk, reason="cheque bounced")
    item.refresh_from_db()
    assert (item.outstanding, selectors.party_balance(party=DRIVER)) == (Decimal("0.00"), Decimal("-40.00"))

    services.reverse_entry(entry_id=applied.entry.pk, reason="payment bounced")
    services.reverse_payment(party=DRIVER, entry_id=payment.pk, reason="cheque bounced")

    item.refresh_from_db()
    assert (item.status, item.outstanding) == (OpenItemStatus.OPEN, Decimal("60.00"))
    assert selectors.party_balance(party=DRIVER) == Decimal("60.00")
    assert selectors.account_balance(account=cash_account()) == Decimal("0.00")


def test_the_parties_a_batch_charged_that_hold_credit_are_found_in_one_query(django_assert_num_queries):
    pay("5.00", key="credit-7")
    pay("5.00", key="credit-8", party=OTHER)
    pay("5.00", key="credit-9", party=Party.of("loans.driver", 9))  # holds credit, not charged below
    charge(
        receivable(OTHER), income_account(), "5.00", key="other", due=date(2026, 1, 4)
    )  # OTHER's credit used up below
    services.apply_party_credit(party=OTHER)
    services.post_charges(
        charges=[
            Charge(
                f"batch-{n}",
                date(2026, 1, 11),
                date(2026, 1, 11),
                "batch",
                receivable(party).pk,
                ((income_account().pk, Decimal("1.00")),),
            )
            for n, party in enumerate([DRIVER, OTHER, Party.of("loans.driver", 10)])
        ],
        source="test",
    )

    with django_assert_num_queries(1):
        found = services.staged_parties_with_credit()

    assert found == [(DRIVER, "USD")]
