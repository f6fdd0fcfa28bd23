"""Net-worth snapshots: exact figures, one per customer and day, set-based for many customers."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.tests.factories import CustomerFactory
from finance import services
from finance.models import NetWorthSnapshot
from loanproject.core.errors import DomainError

from .factories import AccountFactory, BankConnectionFactory, NetWorthSnapshotFactory

pytestmark = pytest.mark.django_db
D = Decimal
DAY = date(2026, 3, 31)


def wealthy_customer():
    bank = BankConnectionFactory()
    for account_type, balance, currency in [
        ("checking", "1000.00", "USD"),
        ("savings", "2500.50", "USD"),
        ("investment", "10000.00", "USD"),
        ("credit", "300.25", "USD"),
        ("loan", "5000.00", "USD"),
        ("savings", "700.00", "EUR"),
    ]:
        AccountFactory(connection=bank, type=account_type, current_balance=D(balance), currency=currency)
    AccountFactory(connection=bank, type="savings", current_balance=D("999.00"), deleted_at=timezone.now())
    return bank.customer


def test_a_snapshot_totals_open_accounts_in_the_base_currency():
    customer = wealthy_customer()

    snapshot, created = services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY)

    snapshot.refresh_from_db()
    assert created is True
    assert (snapshot.date, snapshot.currency, snapshot.total_assets, snapshot.total_liabilities, snapshot.net_worth) == (
        DAY, "USD", D("13500.50"), D("5300.25"), D("8200.25"),
    )
    assert snapshot.assets_breakdown == {"checking": "1000.00", "savings": "2500.50", "investment": "10000.00"}
    assert snapshot.liabilities_breakdown == {"credit": "300.25", "loan": "5000.00"}
    assert snapshot.other_currencies == {"EUR": {"assets": "700.00", "liabilities": "0.00"}}
    assert snapshot.accounts_count == 6


def test_taking_the_days_snapshot_again_returns_it_unchanged():
    customer = wealthy_customer()
    first, _ = services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY)
    customer.finance_accounts.update(current_balance=D("1.00"))

    again, created = services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY)

    assert (created, again.pk, again.net_worth) == (False, first.pk, D("8200.25"))
    assert NetWorthSnapshot.objects.filter(customer=customer).count() == 1


def test_a_customer_without_accounts_gets_zeros():
    customer = CustomerFactory()

    snapshot, created = services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY)

    assert (created, snapshot.total_assets, snapshot.total_liabilities, snapshot.net_worth, snapshot.accounts_count) == (
        True, D("0.00"), D("0.00"), D("0.00"), 0,
    )


def test_another_partners_customer_cannot_be_snapshotted(partner, other_partner):
    customer = CustomerFactory(partner=other_partner)

    with pytest.raises(DomainError, match="No such customer"):
        services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY, partner=partner)

    assert NetWorthSnapshot.objects.count() == 0


@pytest.fixture(params=["sql", "orm"])
def strategy(request):
    if request.param == "sql" and connection.vendor != "postgresql":
        pytest.skip("the SQL writer needs PostgreSQL")
    return request.param


def test_snapshots_of_many_customers_match_single_snapshots_and_skip_those_taken(strategy):
    rich = wealthy_customer()
    modest = AccountFactory(current_balance=D("12.34")).customer
    indebted = AccountFactory(type="credit", current_balance=D("450.00")).customer
    CustomerFactory()  # no accounts: not snapshotted by the bulk run
    NetWorthSnapshotFactory(customer=indebted, date=DAY, total_assets=D("1.00"), total_liabilities=D("0.00"), net_worth=D("1.00"))
    progress = []

    report = services.take_net_worth_snapshots(on=DAY, batch_size=2, progress=progress.append, strategy=strategy)
    again = services.take_net_worth_snapshots(on=DAY, strategy=strategy)

    assert report.as_dict() == {"date": "2026-03-31", "customers": 3, "created": 2, "already_taken": 1}
    assert again.as_dict() == {"date": "2026-03-31", "customers": 3, "created": 0, "already_taken": 3}
    assert sum(progress) == 3
    figures = {
        row.customer_id: (row.total_assets, row.total_liabilities, row.net_worth, row.accounts_count)
        for row in NetWorthSnapshot.objects.filter(date=DAY)
    }
    assert figures == {
        rich.pk: (D("13500.50"), D("5300.25"), D("8200.25"), 6),
        modest.pk: (D("12.34"), D("0.00"), D("12.34"), 1),
        indebted.pk: (D("1.00"), D("0.00"), D("1.00"), 2),  # taken earlier: never rewritten
    }
    bulk = NetWorthSnapshot.objects.get(customer=rich)
    single, _ = services.take_net_worth_snapshot(customer_id=rich.pk, on=date(2026, 4, 1))
    single.refresh_from_db()
    for field in ("currency", "total_assets", "total_liabilities", "net_worth", "assets_breakdown",
                  "liabilities_breakdown", "other_currencies", "accounts_count"):
        assert getattr(bulk, field) == getattr(single, field), field
    assert bulk.assets_breakdown == {"checking": "1000.00", "savings": "2500.50", "investment": "10000.00"}
    assert bulk.liabilities_breakdown == {"credit": "300.25", "loan": "5000.00"}
    assert bulk.other_currencies == {"EUR": {"assets": "700.00", "liabilities": "0.00"}}


def test_bulk_snapshots_of_given_customers_include_those_without_accounts(strategy):
    with_account = AccountFactory(current_balance=D("5.00")).customer
    without = CustomerFactory()

    report = services.take_net_worth_snapshots(on=DAY, customer_ids=[without.pk, with_account.pk, with_account.pk], strategy=strategy)

    assert (report.customers, report.created) == (2, 2)
    assert dict(NetWorthSnapshot.objects.values_list("customer_id", "net_worth")) == {
        with_account.pk: D("5.00"), without.pk: D("0.00"),
    }


def test_bulk_snapshot_queries_do_not_grow_with_customers(strategy):
    def run(count, day):
        AccountFactory.create_batch(count)
        with CaptureQueriesContext(connection) as captured:
            services.take_net_worth_snapshots(on=day, batch_size=1000, strategy=strategy)
        return len(captured)

    assert run(3, date(2026, 1, 1)) == run(40, date(2026, 1, 2))


def test_only_eur_accounts_and_negative_balances_are_exact(strategy):
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, type="checking", current_balance=D("-45.10"))
    AccountFactory(connection=bank, type="savings", current_balance=D("12.00"), currency="EUR")
    AccountFactory(connection=bank, type="loan", current_balance=D("99.99"), currency="EUR")

    services.take_net_worth_snapshots(on=DAY, strategy=strategy)

    snapshot = NetWorthSnapshot.objects.get()
    assert (snapshot.total_assets, snapshot.total_liabilities, snapshot.net_worth, snapshot.accounts_count) == (
        D("-45.10"), D("0.00"), D("-45.10"), 3,
    )
    assert (snapshot.assets_breakdown, snapshot.liabilities_breakdown) == ({"checking": "-45.10"}, {})
    assert snapshot.other_currencies == {"EUR": {"assets": "12.00", "liabilities": "99.99"}}
