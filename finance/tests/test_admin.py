"""Staff screens: fixed query counts, service-backed forms, the customer's finance panel."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from applications.tests.factories import CustomerFactory, StaffUserFactory
from finance.models import (
    Account,
    BankConnection,
    Budget,
    Document,
    NetWorthSnapshot,
    NetWorthSnapshotRun,
    Transaction,
    TransactionImport,
)
from finance.services import upload_document

from .factories import (
    TOKEN,
    AccountFactory,
    BankConnectionFactory,
    BudgetFactory,
    GoalFactory,
    NetWorthSnapshotFactory,
    TransactionFactory,
)
from .test_constraints import make_document

pytestmark = pytest.mark.django_db


def count_queries(client, url: str, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


def make_rows(model: str, count: int) -> None:
    for n in range(count):
        if model == "bankconnection":
            BankConnectionFactory()
        elif model == "account":
            AccountFactory()
        elif model == "transaction":
            TransactionFactory()
        elif model == "transactionimport":
            TransactionImport.objects.create(source="csv", connection=BankConnectionFactory())
        elif model == "budget":
            BudgetFactory(limits={"groceries": "1.00", "rent": "2.00"})
        elif model == "goal":
            GoalFactory()
        elif model == "networthsnapshot":
            NetWorthSnapshotFactory()
        elif model == "networthsnapshotrun":
            NetWorthSnapshotRun.objects.create(date=date(2026, 3, 31), started_by=StaffUserFactory())
        elif model == "document":
            make_document(CustomerFactory(), sha256=f"{n:064x}")


@pytest.mark.parametrize(
    "model",
    [
        "bankconnection",
        "account",
        "transaction",
        "transactionimport",
        "budget",
        "goal",
        "networthsnapshot",
        "networthsnapshotrun",
        "document",
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, model):
    url = reverse(f"admin:finance_{model}_changelist")
    make_rows(model, 3)
    few = count_queries(admin_client, url)
    make_rows(model, 20)

    assert count_queries(admin_client, url) == few


def test_the_customer_page_shows_the_finance_summary_with_links(admin_client):
    account = AccountFactory(name="Everyday", current_balance=Decimal("1500.00"))
    customer = account.customer
    AccountFactory(connection=account.connection, type="credit", name="Card", current_balance=Decimal("250.75"))
    last_month = timezone.localdate().replace(day=1) - timezone.timedelta(days=1)
    TransactionFactory(account=account, date=last_month, amount=Decimal("3000.00"), category="payroll")
    GoalFactory(customer=customer, name="Holiday fund")
    url = reverse("admin:applications_customer_change", args=[customer.pk])

    page = admin_client.get(url).content.decode()

    assert "Personal finance" in page
    assert "Net worth now</th>\n        <td>1249.25 USD" in page
    assert "Estimated monthly income</th>\n        <td>1000.00" in page  # 3000.00 over 3 months
    assert "Holiday fund" in page and "Card" in page
    for model in ("account", "transaction", "budget", "goal", "networthsnapshot", "document", "bankconnection"):
        assert f"{reverse(f'admin:finance_{model}_changelist')}?customer__id__exact={customer.pk}" in page
    assert TOKEN not in page


def test_the_panels_transaction_count_leaves_out_closed_accounts(admin_client):
    account = AccountFactory()
    closed = AccountFactory(connection=account.connection, deleted_at=timezone.now())
    TransactionFactory.create_batch(2, account=account)
    TransactionFactory.create_batch(3, account=closed)

    page = admin_client.get(reverse("admin:applications_customer_change", args=[account.customer_id])).content.decode()

    assert "<tr><th>Transactions</th><td>2</td></tr>" in page


def test_the_finance_panel_costs_the_same_for_few_and_many_rows(admin_client):
    account = AccountFactory()
    url = reverse("admin:applications_customer_change", args=[account.customer_id])
    few = count_queries(admin_client, url)
    for _ in range(8):
        extra = AccountFactory(connection=account.connection)
        TransactionFactory(account=extra)
        GoalFactory(customer=account.customer)

    assert count_queries(admin_client, url) == few


def test_a_filtered_finance_list_opens_from_the_panel_link(admin_client):
    mine = TransactionFactory()
    TransactionFactory()

    response = admin_client.get(
        reverse("admin:finance_transaction_changelist"), {"customer__id__exact": mine.customer_id}
    )

    assert [row.pk for row in response.context["cl"].result_list] == [mine.pk]


def test_staff_link_a_bank_and_the_token_is_never_rendered(admin_client):
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:finance_bankconnection_add"),
        {
            "customer": customer.pk,
            "provider": "plaid",
            "institution_name": "Chase",
            "institution_id": "",
            "item_id": "item-7",
            "access_token": TOKEN,
        },
    )
    bank = BankConnection.objects.get()
    change_page = admin_client.get(reverse("admin:finance_bankconnection_change", args=[bank.pk])).content.decode()
    listing = admin_client.get(reverse("admin:finance_bankconnection_changelist")).content.decode()

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert bank.access_token.reveal() == TOKEN
    for page in (change_page, listing):
        assert TOKEN not in page and "gcm1:" not in page
    assert 'type="password"' in change_page and 'name="access_token"' in change_page


def test_the_disconnect_action_destroys_tokens(admin_client):
    bank = BankConnectionFactory()

    admin_client.post(
        reverse("admin:finance_bankconnection_changelist"), {"action": "disconnect", "_selected_action": [bank.pk]}
    )

    bank.refresh_from_db()
    assert (bank.status, bank.access_token) == ("disconnected", None)


def test_staff_import_a_csv_file_and_see_the_report(admin_client, admin_user):
    bank = BankConnectionFactory()
    AccountFactory(connection=bank, provider_account_id="chk-1")
    upload = SimpleUploadedFile(
        "march.csv",
        b"account,transaction_id,date,amount,name\nchk-1,t1,2026-03-01,-9.99,Cafe\nchk-1,t2,2026-03-01,x,Bad\n",
    )

    response = admin_client.post(
        reverse("admin:finance_transactionimport_add"), {"connection": bank.pk, "csv_file": upload}, follow=True
    )

    record = TransactionImport.objects.get()
    messages = [str(m) for m in response.context["messages"]]
    assert f"Import #{record.pk}: 2 row(s) read, 1 added, 0 already present, 1 refused." in messages
    assert (record.started_by, record.inserted, record.rejected) == (admin_user, 1, 1)
    detail = admin_client.get(reverse("admin:finance_transactionimport_change", args=[record.pk])).content.decode()
    assert "line 3: amount &#x27;x&#x27; is not a number." in detail
    assert Transaction.objects.get().amount == Decimal("-9.99")


def test_a_bad_csv_header_is_a_form_error_and_imports_nothing(admin_client):
    bank = BankConnectionFactory()

    response = admin_client.post(
        reverse("admin:finance_transactionimport_add"),
        {"connection": bank.pk, "csv_file": SimpleUploadedFile("x.csv", b"when,what\n")},
    )

    assert response.status_code == 200
    assert "Bad CSV header" in response.content.decode()
    assert TransactionImport.objects.count() == 0


def test_staff_create_a_budget_and_bad_limits_show_on_the_form(admin_client):
    customer = CustomerFactory()
    url = reverse("admin:finance_budget_add")
    base = {"customer": customer.pk, "name": "Home", "period": "monthly", "start_date": "2026-01-01", "end_date": ""}

    refused = admin_client.post(url, base | {"limits_text": "groceries: 0"})
    accepted = admin_client.post(url, base | {"limits_text": "Groceries: 400.00\nrent: 1500"})

    assert refused.status_code == 200 and "must be positive" in refused.content.decode()
    assert accepted.status_code == 302
    budget = Budget.objects.get()
    assert dict(budget.limits.values_list("category", "amount")) == {
        "groceries": Decimal("400.00"),
        "rent": Decimal("1500.00"),
    }
    page = admin_client.get(reverse("admin:finance_budget_change", args=[budget.pk])).content.decode()
    assert "groceries: 400.00" in page


def test_staff_update_a_goal_through_the_service(admin_client):
    goal = GoalFactory()

    response = admin_client.post(
        reverse("admin:finance_goal_change", args=[goal.pk]),
        {
            "name": "Bigger fund",
            "target_amount": "9000.00",
            "current_amount": "1500.00",
            "target_date": "2027-01-31",
            "priority": "low",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    goal.refresh_from_db()
    assert (goal.name, goal.target_amount, goal.priority) == ("Bigger fund", Decimal("9000.00"), "low")


def test_staff_upload_and_download_a_document(admin_client):
    customer = CustomerFactory()
    pdf = b"%PDF-1.5\nhello\n"

    response = admin_client.post(
        reverse("admin:finance_document_add"),
        {
            "customer": customer.pk,
            "document_type": "pay_stub",
            "extracted_data": '{"gross": 1234.50}',
            "upload": SimpleUploadedFile("stub.pdf", pdf, "application/pdf"),
        },
    )
    document = Document.objects.get()
    assert document.extracted_data == {"gross": "1234.50"}
    download = admin_client.get(reverse("admin:finance_document_download", args=[document.pk]))

    change_url = reverse("admin:finance_document_change", args=[document.pk])
    page = admin_client.get(change_url)
    corrected = admin_client.post(change_url, {"extracted_data": '{"gross": "1234.55"}'})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert b"".join(download.streaming_content) == pdf
    assert (
        page.status_code == 200
        and reverse("admin:finance_document_download", args=[document.pk]) in page.content.decode()
    )
    assert corrected.status_code == 302, corrected.context["adminform"].form.errors
    document.refresh_from_db()
    assert document.extracted_data == {"gross": "1234.55"}


@pytest.mark.parametrize(
    "extracted_data",
    [
        '{"gross": "12\\u0000"}',
        '{"\\u0000": 1}',
        '{"name": "\\ud800"}',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 40 + "1" + "}" * 40,
    ],
    ids=["nul-value", "nul-key", "lone-surrogate", "deep-list", "nested-40"],
)
def test_document_data_postgresql_cannot_store_is_a_form_error(admin_client, extracted_data):
    document, _ = upload_document(
        customer_id=CustomerFactory().pk,
        document_type="pay_stub",
        file=io.BytesIO(b"%PDF-1.5\nstub\n"),
        extracted_data={"gross": "10.00"},
    )
    change_url = reverse("admin:finance_document_change", args=[document.pk])

    response = admin_client.post(change_url, {"extracted_data": extracted_data})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "extracted_data": ["Enter valid JSON without NUL characters or unpaired surrogates, nested at most 32 levels."]
    }
    document.refresh_from_db()
    assert document.extracted_data == {"gross": "10.00"}


def test_close_action_soft_deletes(admin_client):
    account = AccountFactory()

    admin_client.post(
        reverse("admin:finance_account_changelist"), {"action": "close", "_selected_action": [account.pk]}
    )

    assert Account.objects.get().deleted_at is not None


def test_customer_action_takes_snapshots_and_records_the_run_by_the_staff_member(admin_client, admin_user):
    account = AccountFactory(current_balance=Decimal("77.00"))

    admin_client.post(
        reverse("admin:applications_customer_changelist"),
        {"action": "take_net_worth_snapshot", "_selected_action": [account.customer_id, 99999999]},
    )

    assert NetWorthSnapshot.objects.get().net_worth == Decimal("77.00")
    run = NetWorthSnapshotRun.objects.get()
    assert (run.status, run.chosen_customers, run.customers, run.created, run.started_by) == (
        "completed",
        True,
        1,
        1,
        admin_user,
    )


def test_snapshot_runs_are_read_only_in_the_admin(admin_client):
    run = NetWorthSnapshotRun.objects.create(date=date(2026, 3, 31))

    page = admin_client.get(reverse("admin:finance_networthsnapshotrun_change", args=[run.pk]))
    add = admin_client.get(reverse("admin:finance_networthsnapshotrun_add"))
    admin_client.post(reverse("admin:finance_networthsnapshotrun_change", args=[run.pk]), {"status": "completed"})

    assert (page.status_code, add.status_code) == (200, 403)
    assert 'name="status"' not in page.content.decode() and "Running" in page.content.decode()
    run.refresh_from_db()
    assert run.status == "running"


def test_an_auditor_reads_finance_and_changes_nothing(client):
    auditor = StaffUserFactory()
    auditor.groups.add(Group.objects.get(name="Auditor"))
    client.force_login(auditor)
    bank = BankConnectionFactory()

    listing = client.get(reverse("admin:finance_bankconnection_changelist"))
    add = client.get(reverse("admin:finance_budget_add"))
    client.post(
        reverse("admin:finance_bankconnection_changelist"), {"action": "disconnect", "_selected_action": [bank.pk]}
    )

    assert (listing.status_code, add.status_code) == (200, 403)
    bank.refresh_from_db()
    assert bank.status == "active"


def test_transactions_cannot_be_added_or_edited_by_hand(admin_client):
    row = TransactionFactory()

    assert admin_client.get(reverse("admin:finance_transaction_add")).status_code == 403
    admin_client.post(reverse("admin:finance_transaction_change", args=[row.pk]), {"amount": "1.00"})
    row.refresh_from_db()
    assert row.amount == Decimal("-25.00")


@pytest.mark.parametrize(
    "model", ["bankconnection", "account", "transaction", "budget", "goal", "networthsnapshot", "document"]
)
def test_every_panel_link_opens_a_list_of_that_customer_only(admin_client, model):
    mine, other = AccountFactory(), AccountFactory()
    for account in (mine, other):
        TransactionFactory(account=account)
        BudgetFactory(customer=account.customer)
        GoalFactory(customer=account.customer)
        NetWorthSnapshotFactory(customer=account.customer)
        make_document(account.customer, sha256=f"{account.pk:064x}")

    response = admin_client.get(reverse(f"admin:finance_{model}_changelist"), {"customer__id__exact": mine.customer_id})

    assert response.status_code == 200
    assert {row.customer_id for row in response.context["cl"].result_list} == {mine.customer_id}
