"""Two runs at once never store a transaction or a snapshot twice, and their counts add up."""

import io
import threading
from decimal import Decimal

import pytest

from finance import services
from finance.models import NetWorthSnapshot, Transaction
from loanproject.core.testing import run_together

from .factories import AccountFactory, BankConnectionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_twice_at_once(work) -> list:
    results = run_together(work, work)
    assert [r for r in results if isinstance(r, Exception)] == []
    return results


def test_the_same_file_imported_twice_at_once_is_stored_once():
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    AccountFactory(connection=bank, provider_account_id="chk-2")
    text = "account,transaction_id,date,amount,name\n" + "".join(
        f"chk-{1 + n % 2},t{n},2026-03-01,-{n % 90 + 1}.25,Row {n}\n" for n in range(3000)
    )

    reports = run_twice_at_once(
        lambda: services.import_transactions_csv(
            connection_id=bank.pk, csv_file=io.BytesIO(text.encode()), chunk_size=250
        )
    )

    assert Transaction.objects.count() == 3000
    assert sum(report.inserted for report in reports) == 3000
    assert sum(report.duplicates for report in reports) == 3000


def test_two_snapshot_runs_at_once_take_each_snapshot_once():
    accounts = [AccountFactory(current_balance=Decimal(f"{n}.50")) for n in range(40)]

    reports = run_twice_at_once(lambda: services.take_net_worth_snapshots(batch_size=7))

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

    reports = run_twice_at_once(
        lambda: services.import_transactions_csv(
            connection_id=bank.pk, csv_file=io.BytesIO(next_file()), chunk_size=2000
        )
    )

    assert Transaction.objects.count() == 2000
    assert sorted(report.inserted + report.duplicates for report in reports) == [2000, 2000]
    assert sum(report.inserted for report in reports) == 2000
