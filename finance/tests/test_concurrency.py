"""Two runs at once never store a transaction or a snapshot twice, and their counts add up."""

import io
import threading
from decimal import Decimal

import pytest
from django.db import connection

from finance import services
from finance.models import NetWorthSnapshot, Transaction

from .factories import AccountFactory, BankConnectionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(work, times: int = 2) -> list:
    barrier, results, errors = threading.Barrier(times), [], []

    def worker():
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_the_same_file_imported_twice_at_once_is_stored_once():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    AccountFactory(connection=bank, provider_account_id="chk-2")
    text = "account,transaction_id,date,amount,name\n" + "".join(
        f"chk-{1 + n % 2},t{n},2026-03-01,-{n % 90 + 1}.25,Row {n}\n" for n in range(3000)
    )

    reports = run_together(
        lambda: services.import_transactions_csv(connection_id=bank.pk, csv_file=io.BytesIO(text.encode()), chunk_size=250)
    )

    assert Transaction.objects.count() == 3000
    assert sum(report.inserted for report in reports) == 3000
    assert sum(report.duplicates for report in reports) == 3000


def test_two_snapshot_runs_at_once_take_each_snapshot_once():
    accounts = [AccountFactory(current_balance=Decimal(f"{n}.50")) for n in range(40)]

    reports = run_together(lambda: services.take_net_worth_snapshots(batch_size=7))

    assert NetWorthSnapshot.objects.count() == 40
    assert sum(report.created for report in reports) == 40
    assert sum(report.already_taken for report in reports) == 40
    assert dict(NetWorthSnapshot.objects.values_list("customer_id", "net_worth")) == {
        account.customer_id: account.current_balance for account in accounts
    }


def test_files_with_the_same_rows_in_opposite_orders_do_not_deadlock():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    lines = [f"chk-1,t{n},2026-03-01,-1.00,Row {n}\n" for n in range(2000)]
    header = "account,transaction_id,date,amount,name\n"
    files = iter([header + "".join(lines), header + "".join(reversed(lines))])
    lock = threading.Lock()

    def next_file() -> bytes:
        with lock:
            return next(files).encode()

    reports = run_together(
        lambda: services.import_transactions_csv(connection_id=bank.pk, csv_file=io.BytesIO(next_file()), chunk_size=2000)
    )

    assert Transaction.objects.count() == 2000
    assert sorted(report.inserted + report.duplicates for report in reports) == [2000, 2000]
    assert sum(report.inserted for report in reports) == 2000
