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

from finance.models import NetWorthSnapshot, Transaction, TransactionImport
from finance.tasks import take_net_worth_snapshots_task

from .factories import AccountFactory, BankConnectionFactory

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_snapshot_net_worth_for_a_date_as_json_is_idempotent():
    first = AccountFactory(current_balance=Decimal("10.00")).customer
    second = AccountFactory(current_balance=Decimal("20.00")).customer

    output, _ = run("snapshot_net_worth", "--date", "2026-03-31", "--json")
    again, _ = run("snapshot_net_worth", "--date", "2026-03-31")

    assert json.loads(output) == {"date": "2026-03-31", "customers": 2, "created": 2, "already_taken": 0}
    assert "2026-03-31: 0 snapshot(s) taken, 2 already taken, 2 customer(s)" in again
    assert dict(NetWorthSnapshot.objects.values_list("customer_id", "net_worth")) == {
        first.pk: Decimal("10.00"), second.pk: Decimal("20.00"),
    }


def test_snapshot_net_worth_defaults_to_today_and_takes_chosen_customers():
    account = AccountFactory()
    AccountFactory()

    output, _ = run("snapshot_net_worth", "--customer", str(account.customer_id), "--json")

    assert json.loads(output)["date"] == timezone.localdate().isoformat()
    assert list(NetWorthSnapshot.objects.values_list("customer_id", flat=True)) == [account.customer_id]


@pytest.mark.parametrize("args, message", [(["--date", "31/03/2026"], "YYYY-MM-DD"), (["--batch-size", "0"], "positive")])
def test_snapshot_net_worth_refuses_bad_options(args, message):
    AccountFactory()

    with pytest.raises(CommandError, match=message):
        run("snapshot_net_worth", *args)

    assert NetWorthSnapshot.objects.count() == 0


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


def test_the_nightly_snapshot_is_scheduled_and_runs_the_service():
    entry = settings.CELERY_BEAT_SCHEDULE["finance-net-worth-snapshots"]
    account = AccountFactory(current_balance=Decimal("42.00"))

    result = take_net_worth_snapshots_task.delay("2026-04-01").get()

    assert entry["task"] == take_net_worth_snapshots_task.name in current_app.tasks
    assert entry["schedule"] == crontab(hour=1, minute=30)
    assert result == {"date": "2026-04-01", "customers": 1, "created": 1, "already_taken": 0}
    assert NetWorthSnapshot.objects.get(customer_id=account.customer_id, date=date(2026, 4, 1)).net_worth == Decimal("42.00")
