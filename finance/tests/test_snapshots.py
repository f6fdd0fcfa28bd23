"""Net-worth snapshots: exact figures, one per customer and day (today), set-based for many
customers, every bulk run recorded."""

from dataclasses import asdict
from datetime import date
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from applications.tests.factories import CustomerFactory, StaffUserFactory
from finance import selectors, services
from finance.models import NetWorthSnapshot, NetWorthSnapshotRun
from loanproject.core.errors import DomainError

from .factories import AccountFactory, BankConnectionFactory, NetWorthSnapshotFactory

pytestmark = pytest.mark.django_db
D = Decimal
DAY = date(2026, 3, 31)
NOON_IN_NEW_YORK = "2026-03-31 16:00:00"  # UTC; TIME_ZONE is America/New_York


@pytest.fixture(autouse=True)
def today_is_day():
    with freeze_time(NOON_IN_NEW_YORK):
        yield


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
    assert (
        snapshot.date,
        snapshot.currency,
        snapshot.total_assets,
        snapshot.total_liabilities,
        snapshot.net_worth,
    ) == (DAY, "USD", D("13500.50"), D("5300.25"), D("8200.25"))
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

    assert (
        created,
        snapshot.total_assets,
        snapshot.total_liabilities,
        snapshot.net_worth,
        snapshot.accounts_count,
    ) == (True, D("0.00"), D("0.00"), D("0.00"), 0)


def test_another_partners_customer_cannot_be_snapshotted(partner, other_partner):
    customer = CustomerFactory(partner=other_partner)

    with pytest.raises(DomainError, match="No such customer"):
        services.take_net_worth_snapshot(customer_id=customer.pk, on=DAY, partner=partner)

    assert NetWorthSnapshot.objects.count() == 0


def test_snapshots_of_many_customers_match_single_snapshots_and_skip_those_taken():
    rich = wealthy_customer()
    modest = AccountFactory(current_balance=D("12.34")).customer
    indebted = AccountFactory(type="credit", current_balance=D("450.00")).customer
    CustomerFactory()  # no accounts: not snapshotted by the bulk run
    NetWorthSnapshotFactory(
        customer=indebted, date=DAY, total_assets=D("1.00"), total_liabilities=D("0.00"), net_worth=D("1.00")
    )
    progress = []

    report = services.take_net_worth_snapshots(on=DAY, batch_size=2, progress=progress.append)
    again = services.take_net_worth_snapshots(on=DAY)

    assert report.as_dict() == {
        "date": "2026-03-31",
        "customers": 3,
        "created": 2,
        "already_taken": 1,
        "run_id": report.run_id,
    }
    assert again.as_dict() == {
        "date": "2026-03-31",
        "customers": 3,
        "created": 0,
        "already_taken": 3,
        "run_id": again.run_id,
    }
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
    with freeze_time("2026-04-01 16:00:00"):
        single, _ = services.take_net_worth_snapshot(customer_id=rich.pk)
    single.refresh_from_db()
    for field in (
        "currency",
        "total_assets",
        "total_liabilities",
        "net_worth",
        "assets_breakdown",
        "liabilities_breakdown",
        "other_currencies",
        "accounts_count",
    ):
        assert getattr(bulk, field) == getattr(single, field), field
    assert bulk.assets_breakdown == {"checking": "1000.00", "savings": "2500.50", "investment": "10000.00"}
    assert bulk.liabilities_breakdown == {"credit": "300.25", "loan": "5000.00"}
    assert bulk.other_currencies == {"EUR": {"assets": "700.00", "liabilities": "0.00"}}


def test_bulk_snapshots_of_given_customers_include_those_without_accounts():
    with_account = AccountFactory(current_balance=D("5.00")).customer
    without = CustomerFactory()

    report = services.take_net_worth_snapshots(on=DAY, customer_ids=[without.pk, with_account.pk, with_account.pk])

    assert (report.customers, report.created) == (2, 2)
    assert dict(NetWorthSnapshot.objects.values_list("customer_id", "net_worth")) == {
        with_account.pk: D("5.00"),
        without.pk: D("0.00"),
    }


def test_bulk_snapshot_queries_do_not_grow_with_customers():
    def run(count, moment):
        AccountFactory.create_batch(count)
        with freeze_time(moment), CaptureQueriesContext(connection) as captured:
            services.take_net_worth_snapshots(batch_size=1000)
        return len(captured)

    assert run(3, "2026-01-01 16:00") == run(40, "2026-01-02 16:00")


def test_only_eur_accounts_and_negative_balances_are_exact():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, type="checking", current_balance=D("-45.10"))
    AccountFactory(connection=bank, type="savings", current_balance=D("12.00"), currency="EUR")
    AccountFactory(connection=bank, type="loan", current_balance=D("99.99"), currency="EUR")

    services.take_net_worth_snapshots(on=DAY)

    snapshot = NetWorthSnapshot.objects.get()
    assert (snapshot.total_assets, snapshot.total_liabilities, snapshot.net_worth, snapshot.accounts_count) == (
        D("-45.10"),
        D("0.00"),
        D("-45.10"),
        3,
    )
    assert (snapshot.assets_breakdown, snapshot.liabilities_breakdown) == ({"checking": "-45.10"}, {})
    assert snapshot.other_currencies == {"EUR": {"assets": "12.00", "liabilities": "99.99"}}


def test_a_snapshot_holds_exactly_the_net_worth_the_selector_reports():
    rich = wealthy_customer()  # assets, liabilities, a closed account, a EUR account
    bank = rich.bank_connections.get()
    AccountFactory(connection=bank, type="credit", current_balance=D("19.99"), currency="GBP")
    AccountFactory(
        connection=bank, type="loan", current_balance=D("1000.00"), currency="EUR", deleted_at=timezone.now()
    )
    overdrawn = AccountFactory(type="checking", current_balance=D("-0.01")).customer

    reported = selectors.net_worth_by_customer(customer_ids=[rich.pk, overdrawn.pk])
    services.take_net_worth_snapshots(on=DAY)
    with freeze_time("2026-04-01 16:00:00"):
        single, _ = services.take_net_worth_snapshot(customer_id=rich.pk)

    assert reported[rich.pk] == selectors.NetWorthFigures(
        customer_id=rich.pk,
        currency="USD",
        total_assets=D("13500.50"),
        total_liabilities=D("5300.25"),
        net_worth=D("8200.25"),
        assets_breakdown={"checking": "1000.00", "savings": "2500.50", "investment": "10000.00"},
        liabilities_breakdown={"credit": "300.25", "loan": "5000.00"},
        other_currencies={
            "EUR": {"assets": "700.00", "liabilities": "0.00"},
            "GBP": {"assets": "0.00", "liabilities": "19.99"},
        },
        accounts_count=7,
    )
    assert (str(reported[overdrawn.pk].net_worth), reported[overdrawn.pk].assets_breakdown) == (
        "-0.01",
        {"checking": "-0.01"},
    )
    snapshots = [*NetWorthSnapshot.objects.filter(date=DAY), NetWorthSnapshot.objects.get(pk=single.pk)]
    assert len(snapshots) == 3
    for snapshot in snapshots:
        figures = asdict(reported[snapshot.customer_id])
        held = {name: getattr(snapshot, name) for name in figures}
        assert held == figures
        assert {name: str(value) for name, value in held.items()} == {  # "8200.25", never "8200.250"
            name: str(value) for name, value in figures.items()
        }


# --- The day of a snapshot: today, in TIME_ZONE --------------------------------------------------


@pytest.mark.parametrize("day", [date(2026, 4, 1), date(2026, 4, 30), date(2026, 3, 30), date(2000, 1, 1)])
def test_a_partner_can_snapshot_only_today(partner, day):
    customer = AccountFactory(connection__customer__partner=partner).customer

    with pytest.raises(DomainError) as refused:
        services.take_net_worth_snapshot(customer_id=customer.pk, on=day, partner=partner)

    assert refused.value.code == "snapshot_date_not_today"
    assert refused.value.fields == {
        "date": [
            f"A snapshot records the balances as they are now, so it is taken for today "
            f"(2026-03-31, America/New_York), not {day.isoformat()}."
        ]
    }
    assert NetWorthSnapshot.objects.count() == 0


def test_a_future_snapshot_is_refused_even_for_staff_and_the_real_one_is_taken_that_day():
    customer = AccountFactory(current_balance=D("10.00")).customer

    with pytest.raises(DomainError, match="not 2026-04-01"):
        services.take_net_worth_snapshot(customer_id=customer.pk, on=date(2026, 4, 1))
    with freeze_time("2026-04-01 16:00:00"):
        report = services.take_net_worth_snapshots()

    assert (report.date, report.created) == (date(2026, 4, 1), 1)
    assert list(NetWorthSnapshot.objects.values_list("date", "net_worth")) == [(date(2026, 4, 1), D("10.00"))]


def test_staff_code_may_backfill_a_past_day_it_has_set_the_balances_for():
    customer = AccountFactory(current_balance=D("321.00")).customer

    snapshot, created = services.take_net_worth_snapshot(customer_id=customer.pk, on=date(2026, 2, 28))

    assert (created, snapshot.date, snapshot.net_worth) == (True, date(2026, 2, 28), D("321.00"))


@pytest.mark.parametrize("day", [date(2026, 3, 30), date(2026, 4, 1)])
def test_a_bulk_run_is_for_today_only_and_a_refused_one_records_nothing(day):
    AccountFactory()

    with pytest.raises(DomainError, match=f"not {day.isoformat()}"):
        services.take_net_worth_snapshots(on=day)

    assert (NetWorthSnapshot.objects.count(), NetWorthSnapshotRun.objects.count()) == (0, 0)


def test_today_is_the_business_day_in_time_zone_not_the_utc_day():
    customer = AccountFactory().customer

    with freeze_time("2026-04-01 03:30:00"):  # 23:30 on 31 March in New York
        report = services.take_net_worth_snapshots()
        with pytest.raises(DomainError, match="today \\(2026-03-31, America/New_York\\), not 2026-04-01"):
            services.take_net_worth_snapshots(on=date(2026, 4, 1))

    assert report.date == DAY
    assert list(NetWorthSnapshot.objects.values_list("customer_id", "date")) == [(customer.pk, DAY)]


# --- Unknown customers -----------------------------------------------------------------------------


def test_a_bulk_run_for_unknown_customers_names_them_and_writes_nothing():
    known = AccountFactory().customer

    with pytest.raises(DomainError) as refused:
        services.take_net_worth_snapshots(customer_ids=[known.pk, 99999999, 99999998])

    assert refused.value.message == "No such customer(s): 99999998, 99999999."
    assert refused.value.fields == {"customer": ["No such customer(s): 99999998, 99999999."]}
    assert (NetWorthSnapshot.objects.count(), NetWorthSnapshotRun.objects.count()) == (0, 0)


# --- The audit trail ---------------------------------------------------------------------------------


def test_a_single_snapshot_is_in_the_audit_log_with_its_actor():
    from auditlog.context import set_actor

    officer = StaffUserFactory()
    customer = AccountFactory().customer

    with set_actor(officer):
        snapshot, _ = services.take_net_worth_snapshot(customer_id=customer.pk)

    entries = LogEntry.objects.get_for_object(snapshot)
    assert [(entry.action, entry.actor) for entry in entries] == [(LogEntry.Action.CREATE, officer)]


def test_every_bulk_run_is_recorded_with_its_counts_and_who_started_it():
    officer = StaffUserFactory()
    first, second = AccountFactory().customer, AccountFactory().customer
    NetWorthSnapshotFactory(customer=second, date=DAY)

    report = services.take_net_worth_snapshots(started_by=officer, batch_size=1)
    chosen = services.take_net_worth_snapshots(customer_ids=[first.pk])

    run = NetWorthSnapshotRun.objects.get(pk=report.run_id)
    assert (
        run.date,
        run.status,
        run.chosen_customers,
        run.customers,
        run.created,
        run.already_taken,
        run.started_by,
    ) == (DAY, "completed", False, 2, 1, 1, officer)
    assert run.finished_at is not None and run.error_message == ""
    assert NetWorthSnapshotRun.objects.filter(pk=chosen.run_id).values_list(
        "chosen_customers", "customers", "created", "already_taken", "status", "started_by"
    ).get() == (True, 1, 0, 1, "completed", None)
    assert [entry.action for entry in LogEntry.objects.get_for_object(run).order_by("pk")] == [
        LogEntry.Action.CREATE,
        LogEntry.Action.UPDATE,
    ]


def test_a_run_that_fails_half_way_is_marked_failed_and_keeps_the_batches_done(monkeypatch):
    from finance.services import snapshots

    customers = [AccountFactory().customer for _ in range(3)]
    take_batch = snapshots._take_batch
    calls = []

    def fail_on_the_second_batch(batch, on, currency):
        calls.append(batch)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return take_batch(batch, on, currency)

    monkeypatch.setattr(snapshots, "_take_batch", fail_on_the_second_batch)

    with pytest.raises(RuntimeError, match="the disk is full"):
        services.take_net_worth_snapshots(batch_size=2)

    run = NetWorthSnapshotRun.objects.get()
    assert (run.status, run.customers, run.created, run.already_taken, run.error_message) == (
        "failed",
        2,
        2,
        0,
        "RuntimeError: the disk is full",
    )
    assert set(NetWorthSnapshot.objects.values_list("customer_id", flat=True)) == {customers[0].pk, customers[1].pk}
