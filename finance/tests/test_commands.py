"""Doors for operators and the scheduler: the commands and the nightly task."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from celery import current_app
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from freezegun import freeze_time

from applications.tests.factories import CustomerFactory
from finance.models import NetWorthSnapshot, NetWorthSnapshotRun, Transaction, TransactionImport
from finance.tasks import take_net_worth_snapshots_task
from loanproject.core.errors import DomainError

from .factories import AccountFactory, BankConnectionFactory

pytestmark = pytest.mark.django_db
MARCH_31 = "2026-03-31 16:00:00"  # noon in New York (TIME_ZONE)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@freeze_time(MARCH_31)
def test_snapshot_net_worth_for_today_as_json_is_idempotent_and_recorded():
    first = AccountFactory(current_balance=Decimal("10.00")).customer
    second = AccountFactory(current_balance=Decimal("20.00")).customer

    output, _ = run("snapshot_net_worth", "--date", "2026-03-31", "--json")
    again, _ = run("snapshot_net_worth")

    runs = list(
        NetWorthSnapshotRun.objects.order_by("pk").values_list("pk", "created", "already_taken", "started_by__username")
    )
    assert json.loads(output) == {
        "date": "2026-03-31",
        "customers": 2,
        "created": 2,
        "already_taken": 0,
        "run_id": runs[0][0],
    }
    assert f"2026-03-31: 0 snapshot(s) taken, 2 already taken, 2 customer(s) (run #{runs[1][0]})" in again
    assert [run[1:] for run in runs] == [(2, 0, "system"), (0, 2, "system")]
    assert dict(NetWorthSnapshot.objects.values_list("customer_id", "net_worth")) == {
        first.pk: Decimal("10.00"),
        second.pk: Decimal("20.00"),
    }


def test_snapshot_net_worth_defaults_to_today_and_takes_chosen_customers():
    account = AccountFactory()
    AccountFactory()

    output, _ = run("snapshot_net_worth", "--customer", str(account.customer_id), "--json")

    assert json.loads(output)["date"] == timezone.localdate().isoformat()
    assert list(NetWorthSnapshot.objects.values_list("customer_id", flat=True)) == [account.customer_id]


@freeze_time(MARCH_31)
@pytest.mark.parametrize(
    "args, message",
    [
        (["--date", "31/03/2026"], "YYYY-MM-DD"),
        (["--batch-size", "0"], "positive"),
        (["--date", "2026-03-30"], r"taken for today \(2026-03-31, America/New_York\), not 2026-03-30\."),
        (["--date", "2026-04-30"], r"taken for today \(2026-03-31, America/New_York\), not 2026-04-30\."),
    ],
)
def test_snapshot_net_worth_refuses_bad_options(args, message):
    AccountFactory()

    with pytest.raises(CommandError, match=message):
        run("snapshot_net_worth", *args)

    assert (NetWorthSnapshot.objects.count(), NetWorthSnapshotRun.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_snapshot_net_worth_for_an_unknown_customer_is_a_command_error_naming_it():
    # Transactional: the snapshot's foreign key is checked only at commit, which a plain test never reaches.
    known = CustomerFactory()

    with pytest.raises(CommandError, match=r"^No such customer\(s\): 99999999\.$"):
        run("snapshot_net_worth", "--customer", str(known.pk), "--customer", "99999999")

    assert (NetWorthSnapshot.objects.count(), NetWorthSnapshotRun.objects.count()) == (0, 0)


def test_import_transactions_reports_and_is_idempotent(tmp_path):
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    path = tmp_path / "march.csv"
    path.write_text(
        "account,transaction_id,date,amount,name\n"
        "chk-1,t1,2026-03-01,-1.00,Coffee\n"
        "chk-1,t2,2026-03-02,oops,Bad\n"
        "chk-1,t3,2026-03-03,2.00,Refund\n"
    )

    output, errors = run("import_transactions", str(path), "--connection", str(bank.pk))
    again, _ = run("import_transactions", str(path), "--connection", str(bank.pk), "--json")

    record = TransactionImport.objects.order_by("pk").first()
    assert f"Import #{record.pk}: 3 row(s) read, 2 added, 0 already present, 1 refused" in output
    assert "line 3: amount 'oops' is not a number." in errors
    report = json.loads(again)
    assert (report["inserted"], report["duplicates"], report["rejected"]) == (0, 2, 1)
    assert report["errors"] == [{"line": 3, "errors": ["amount 'oops' is not a number."]}]
    assert Transaction.objects.count() == 2
    assert (record.source_name, record.started_by.username) == ("march.csv", "system")


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, [], "No such file"),
        ("account,amount\n", [], "Bad CSV header"),
        ("account,transaction_id,date,amount,name\n", ["--connection", "999999"], "No such bank connection"),
    ],
)
def test_import_transactions_refusals_are_command_errors(tmp_path, content, args, message):
    bank = BankConnectionFactory()
    path = tmp_path / "file.csv"
    if content is not None:
        path.write_text(content)

    with pytest.raises(CommandError, match=message):
        run("import_transactions", str(path), *(args or ["--connection", str(bank.pk)]))

    assert TransactionImport.objects.count() == 0


def test_the_nightly_snapshot_is_scheduled_and_runs_the_service_for_the_day_just_begun():
    entry = settings.CELERY_BEAT_SCHEDULE["finance-net-worth-snapshots"]
    account = AccountFactory(current_balance=Decimal("42.00"))

    with freeze_time("2026-04-01 05:30:00"):  # 01:30 in New York, when beat fires
        result = take_net_worth_snapshots_task.delay().get()
        explicit = take_net_worth_snapshots_task.delay("2026-04-01").get()

    assert entry["task"] == take_net_worth_snapshots_task.name in current_app.tasks
    assert entry["schedule"] == crontab(hour=1, minute=30)
    run_id = NetWorthSnapshotRun.objects.get(created=1).pk
    assert result == {"date": "2026-04-01", "customers": 1, "created": 1, "already_taken": 0, "run_id": run_id}
    assert (explicit["created"], explicit["already_taken"]) == (0, 1)
    assert NetWorthSnapshot.objects.get(customer_id=account.customer_id, date=date(2026, 4, 1)).net_worth == Decimal(
        "42.00"
    )
    assert NetWorthSnapshotRun.objects.get(pk=run_id).started_by.username == "system"


@pytest.mark.parametrize("day", ["2026-03-31", "2026-04-02"])
def test_the_nightly_task_refuses_another_day(day):
    AccountFactory()

    with freeze_time("2026-04-01 05:30:00"), pytest.raises(DomainError, match=f"not {day}"):
        take_net_worth_snapshots_task.delay(day).get()

    assert (NetWorthSnapshot.objects.count(), NetWorthSnapshotRun.objects.count()) == (0, 0)


def test_import_transactions_into_a_disconnected_connection_is_a_command_error(tmp_path):
    bank = BankConnectionFactory(status="disconnected", access_token=None)
    AccountFactory(connection=bank, provider_account_id="chk-1")
    path = tmp_path / "march.csv"
    path.write_text("account,transaction_id,date,amount,name\nchk-1,t1,2026-03-01,-1.00,Coffee\n")

    with pytest.raises(CommandError, match="disconnected; link the bank again"):
        run("import_transactions", str(path), "--connection", str(bank.pk))

    assert (TransactionImport.objects.count(), Transaction.objects.count()) == (0, 0)
