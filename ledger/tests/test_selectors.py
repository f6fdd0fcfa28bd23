"""Worked examples: balances, trial balance, statements and aging read from the postings."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import selectors, services
from ledger.models import AccountType, Category
from ledger.parties import Party
from ledger.statements import Totals

from .factories import AccountFactory, book, cash_account, charge, income_account, receivable

pytestmark = pytest.mark.django_db

DRIVER = Party.of("loans.driver", 7)


def test_worked_example_a_month_of_one_drivers_account():
    """Lend 1,000, bill two weeks of 110 (100 principal + 10 interest), receive 150, reverse a bill."""
    cash = cash_account()
    principal = AccountFactory(code="1300", name="Loans principal")
    interest = income_account()
    equity = AccountFactory(code="3000", name="Capital", type=AccountType.EQUITY)
    driver_loans = receivable(DRIVER)
    book(cash, equity, "5000.00", key="capital", on=date(2026, 1, 1))
    book(principal, cash, "1000.00", key="disburse", on=date(2026, 1, 2))
    from ledger.inputs import Charge

    week = [date(2026, 1, 4), date(2026, 1, 11), date(2026, 1, 18)]
    posted = services.post_charges(
        charges=[
            Charge(
                f"week-{n}",
                day,
                day,
                f"week {n}",
                driver_loans.pk,
                ((principal.pk, Decimal("100.00")), (interest.pk, Decimal("10.00"))),
            )
            for n, day in enumerate(week, start=1)
        ],
        source="test",
    )
    services.record_payment(
        party=DRIVER, amount=Decimal("150.00"), received_on=date(2026, 1, 12), idempotency_key="pay", cash_account=cash
    )
    services.reverse_entry(
        entry_id=posted["week-3"].entry_id,
        reason="billed too early",
        reversal_date=date(2026, 1, 19),
        on_behalf_of_source="test",
    )

    trial = selectors.trial_balance()

    assert [(row.code, row.debits, row.credits, row.balance) for row in trial.rows] == [
        ("1000", Decimal("5150.00"), Decimal("1000.00"), Decimal("4150.00")),
        ("1300", Decimal("1100.00"), Decimal("300.00"), Decimal("800.00")),
        ("3000", Decimal("0.00"), Decimal("5000.00"), Decimal("-5000.00")),
        ("4000", Decimal("10.00"), Decimal("30.00"), Decimal("-20.00")),
        ("loans.driver:7:LOANS:USD", Decimal("330.00"), Decimal("260.00"), Decimal("70.00")),
    ]
    assert trial.totals == {"USD": Totals(Decimal("6590.00"), Decimal("6590.00"))}
    assert trial.balances
    assert selectors.account_balance(account=interest) == Decimal("20.00")
    assert selectors.party_balance(party=DRIVER, category=Category.LOANS) == Decimal("70.00")
    assert selectors.trial_balance(as_of=date(2026, 1, 11)).totals == {
        "USD": Totals(Decimal("6220.00"), Decimal("6220.00"))
    }


def test_an_account_statement_has_an_opening_balance_and_a_running_balance():
    cash, income = cash_account(), income_account()
    book(cash, income, "100.00", key="a", on=date(2026, 1, 1))
    book(cash, income, "20.00", key="b", on=date(2026, 1, 5))
    book(income, cash, "5.00", key="c", on=date(2026, 1, 6))
    book(cash, income, "1.00", key="d", on=date(2026, 2, 1))

    statement = selectors.account_statement(account=cash, date_from=date(2026, 1, 2), date_to=date(2026, 1, 31))

    assert statement.opening_balance == Decimal("100.00")
    assert [(line.entry_date, line.debit, line.credit, line.balance) for line in statement.lines] == [
        (date(2026, 1, 5), Decimal("20.00"), Decimal("0.00"), Decimal("120.00")),
        (date(2026, 1, 6), Decimal("0.00"), Decimal("5.00"), Decimal("115.00")),
    ]
    assert statement.closing_balance == Decimal("115.00")


def test_aging_puts_each_open_item_in_its_bucket():
    income = income_account()
    account = receivable(DRIVER)
    as_of = date(2026, 3, 1)
    for key, due, amount in [
        ("future", date(2026, 3, 8), "1.00"),
        ("today", date(2026, 3, 1), "2.00"),
        ("1d", date(2026, 2, 28), "4.00"),
        ("7d", date(2026, 2, 22), "8.00"),
        ("8d", date(2026, 2, 21), "16.00"),
        ("30d", date(2026, 1, 30), "32.00"),
        ("31d", date(2026, 1, 29), "64.00"),
        ("60d", date(2025, 12, 31), "128.00"),
        ("61d", date(2025, 12, 30), "256.00"),
    ]:
        charge(account, income, amount, key=key, due=due)
    other = receivable(Party.of("loans.driver", 8))
    charge(other, income, "1000.00", key="other", due=date(2025, 1, 1))
    charge(receivable(DRIVER, Category.LEASE), income, "0.50", key="lease", due=date(2026, 3, 1))

    rows = selectors.open_items_aging(as_of=as_of, party_type="loans.driver", category=Category.LOANS)

    assert rows == [
        {
            "party_type": "loans.driver",
            "party_id": "8",
            "currency": "USD",
            "current": Decimal("0.00"),
            "days_1_7": Decimal("0.00"),
            "days_8_30": Decimal("0.00"),
            "days_31_60": Decimal("0.00"),
            "days_over_60": Decimal("1000.00"),
            "total": Decimal("1000.00"),
        },
        {
            "party_type": "loans.driver",
            "party_id": "7",
            "currency": "USD",
            "current": Decimal("3.00"),
            "days_1_7": Decimal("12.00"),
            "days_8_30": Decimal("48.00"),
            "days_31_60": Decimal("192.00"),
            "days_over_60": Decimal("256.00"),
            "total": Decimal("511.00"),
        },
    ]


def test_paid_items_leave_the_aging():
    income, account = income_account(), receivable(DRIVER)
    charge(account, income, "10.00", key="a", due=date(2026, 1, 4))
    services.record_payment(
        party=DRIVER,
        amount=Decimal("4.00"),
        received_on=date(2026, 1, 5),
        idempotency_key="p",
        cash_account=cash_account(),
    )

    rows = selectors.open_items_aging(as_of=date(2026, 1, 10))

    assert [(row["party_id"], row["days_1_7"], row["total"]) for row in rows] == [
        ("7", Decimal("6.00"), Decimal("6.00"))
    ]


@pytest.mark.parametrize(
    "as_of, bucket",
    [(date.min, "current"), (date(1, 1, 5), "current"), (date.max, "days_over_60")],
    ids=["first-day", "days-after-the-first", "last-day"],
)
def test_aging_at_the_ends_of_the_calendar_does_not_overflow(as_of, bucket):
    charge(receivable(DRIVER), income_account(), "10.00", key="a", due=date(2026, 1, 4))

    rows = selectors.open_items_aging(as_of=as_of)
    totals = selectors.open_items_aging_totals(as_of=as_of)

    assert [(row[bucket], row["total"]) for row in rows] == [(Decimal("10.00"), Decimal("10.00"))]
    assert totals == {name: Decimal("10.00") if name == bucket else Decimal("0.00") for name in selectors.AGING_BUCKETS}
