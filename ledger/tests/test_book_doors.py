"""The trial balance, account statements and party balances through the admin and the staff API:
Finance reads them, roles without the ledger's view permission get 403, pages cost a fixed number
of queries whatever the book holds, and each exports as CSV."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ledger import services
from ledger.models import Category
from ledger.parties import Party

from .factories import book, cash_account, income_account, receivable

pytestmark = pytest.mark.django_db

D = Decimal
DRIVER = Party.of("loans.driver", 7)


def staff(role: str | None, name: str) -> User:
    user = User.objects.create_user(username=name, password="x", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def api(role: str | None, name: str = "api") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff(role, name)).key}")
    return client


@pytest.fixture
def finance(client):
    client.force_login(staff("Finance", "fiona"))
    return client


@pytest.fixture
def small_book():
    cash, income = cash_account(), income_account()
    book(cash, income, "100.00", key="a", on=date(2026, 1, 2))
    book(income, cash, "30.00", key="b", on=date(2026, 1, 5))
    services.post_charges(charges=[_charge("c", receivable(DRIVER), income, "12.50")], source="test")
    return cash


def _charge(key, account, income, amount, party_day=date(2026, 1, 4)):
    from ledger.inputs import Charge

    return Charge(key, party_day, party_day, key, account.pk, ((income.pk, D(amount)),), reference=key)


def more_parties(count: int, offset: int) -> None:
    income = income_account()
    services.post_charges(
        charges=[
            _charge(f"x{n}", receivable(Party.of("loans.driver", n), Category.LEASE), income, "1.00")
            for n in range(offset, offset + count)
        ],
        source="test",
    )


# --- Admin -----------------------------------------------------------------------------------------


def test_finance_reads_the_trial_balance_in_the_admin_and_downloads_it(finance, small_book):
    url = reverse("admin:ledger_trial_balance")

    page = finance.get(url, {"as_of": "2026-01-31"})
    csv = finance.get(url, {"as_of": "2026-01-31", "by": "account", "export": "csv"})

    assert page.status_code == 200
    assert [(row.code, row.balance) for row in page.context["rows"]] == [
        ("1000", D("70.00")),
        ("4000", D("-82.50")),
        ("loans.driver:*:LOANS:USD", D("12.50")),
    ]
    assert (
        'href="/admin/ledger/account/trial-balance/"'
        in finance.get(reverse("admin:ledger_account_changelist")).content.decode()
    )
    assert b"".join(csv.streaming_content).decode().splitlines() == [
        "Account,Name,Type,Currency,Debits,Credits,Debit balance,Credit balance",
        "1000,Cash at bank,asset,USD,100.00,30.00,70.00,0.00",
        "4000,Fee income,income,USD,30.00,112.50,0.00,82.50",
        "loans.driver:7:LOANS:USD,loans.driver:7 Loans,asset,USD,12.50,0.00,12.50,0.00",
        "Total,,,USD,142.50,142.50,0.00,0.00",
    ]


def test_the_admin_pages_cost_the_same_queries_whatever_the_book_holds(finance, small_book, django_assert_num_queries):
    statement = reverse("admin:ledger_account_statement", args=[small_book.pk])
    trial = reverse("admin:ledger_trial_balance")
    balances = reverse("admin:ledger_party_balances") + "?party_type=loans.driver&party_id=7"
    for url in (statement, trial, balances):
        finance.get(url)  # warm caches
    # Session, user, permissions (2), then: statement = account + figures + lines; trial balance =
    # one grouped query; party balances = the grouped query + the party's accounts (for links).
    with django_assert_num_queries(7):
        assert finance.get(statement).status_code == 200
    with django_assert_num_queries(5):
        assert finance.get(trial).status_code == 200
    with django_assert_num_queries(6):
        assert finance.get(balances).status_code == 200

    more_parties(40, offset=100)
    for n in range(20):
        book(small_book, income_account(), "1.00", key=f"more-{n}", on=date(2026, 1, 10))

    with django_assert_num_queries(7):
        assert finance.get(statement).status_code == 200
    with django_assert_num_queries(5):
        assert finance.get(trial).status_code == 200
    with django_assert_num_queries(6):
        assert finance.get(balances).status_code == 200


def test_the_account_page_links_its_statement_and_its_partys_balances(finance, small_book):
    account = receivable(DRIVER)

    html = finance.get(reverse("admin:ledger_account_change", args=[account.pk])).content.decode()
    page = finance.get(
        reverse("admin:ledger_party_balances"), {"party_type": "loans.driver", "party_id": "7", "as_of": "2026-01-31"}
    )

    assert reverse("admin:ledger_account_statement", args=[account.pk]) in html
    assert "party-balances/?party_type=loans.driver&amp;party_id=7" in html
    assert [(balance.label, balance.closing, account_id) for balance, account_id in page.context["rows"]] == [
        ("LOANS", D("12.50"), account.pk)
    ]


def test_the_admin_statement_pages_by_keyset(finance):
    cash, income = cash_account(), income_account()
    for n in range(5):
        book(cash, income, "1.00", key=f"k{n}", on=date(2026, 1, 4) + timedelta(days=n))
    url = reverse("admin:ledger_account_statement", args=[cash.pk])
    from ledger import report_doors

    report_doors.STATEMENT_PAGE_LINES, saved = 2, report_doors.STATEMENT_PAGE_LINES
    try:
        first = finance.get(url, {"date_from": "2026-01-01", "date_to": "2026-01-31"})
        second = finance.get(
            url, {"date_from": "2026-01-01", "date_to": "2026-01-31", "after": first.context["next_cursor"]}
        )
        forged = finance.get(
            url, {"date_from": "2026-01-02", "date_to": "2026-01-31", "after": first.context["next_cursor"]}
        )
    finally:
        report_doors.STATEMENT_PAGE_LINES = saved

    assert [line.balance for line in first.context["statement"].lines] == [D("1.00"), D("2.00")]
    assert [line.balance for line in second.context["statement"].lines] == [D("3.00"), D("4.00")]
    assert "Not a cursor of this statement" in forged.context["error"]


@pytest.mark.parametrize("role", ["Loan manager", "Loan officer", None])
def test_roles_without_the_ledgers_view_permission_get_403(client, small_book, role):
    client.force_login(staff(role, "someone"))

    for url in (
        reverse("admin:ledger_trial_balance"),
        reverse("admin:ledger_account_statement", args=[small_book.pk]),
        reverse("admin:ledger_party_balances") + "?party_type=loans.driver&party_id=7",
    ):
        assert client.get(url).status_code == 403, url
    for url in ("/api/v1/ledger/trial-balance/", f"/api/v1/ledger/accounts/{small_book.pk}/statement/"):
        assert api(role).get(url).status_code == 403
        Token.objects.all().delete()
        User.objects.filter(username="api").delete()


def test_an_auditor_reads_the_trial_balance(client, small_book):
    client.force_login(staff("Auditor", "audrey"))

    assert client.get(reverse("admin:ledger_trial_balance")).status_code == 200


# --- Staff API -------------------------------------------------------------------------------------


def test_the_api_trial_balance_sums_to_zero_per_currency(small_book, django_assert_num_queries):
    client = api("Finance")
    client.get("/api/v1/ledger/trial-balance/")  # warm caches

    # Token with its user, permissions (2), the grouped query.
    with django_assert_num_queries(4):
        body = client.get("/api/v1/ledger/trial-balance/", {"as_of": "2026-01-04", "by": "account"}).json()

    assert body["rows"][0] == {
        "account_id": small_book.pk,
        "code": "1000",
        "name": "Cash at bank",
        "type": "asset",
        "currency": "USD",
        "debits": "100.00",
        "credits": "0.00",
        "debit_balance": "100.00",
        "credit_balance": "0.00",
        "balance": "100.00",
    }
    assert body["totals"] == {"USD": {"debits": "112.50", "credits": "112.50", "balance": "0.00"}}
    assert body["balanced"] is True
    assert body["truncated"] is False


def test_the_api_statement_pages_with_a_signed_cursor_and_exports_csv(django_assert_num_queries):
    cash, income = cash_account(), income_account()
    book(cash, income, "50.00", key="open", on=date(2025, 12, 31))
    for n in range(5):
        book(cash, income, f"{n + 1}.00", key=f"k{n}", on=date(2026, 1, 4) + timedelta(days=n))
    client = api("Finance")
    url = f"/api/v1/ledger/accounts/{cash.pk}/statement/"
    params = {"date_from": "2026-01-01", "date_to": "2026-01-31", "page_size": "2"}
    client.get(url, params)

    # Token, permissions (2), the account, the figures, the lines.
    with django_assert_num_queries(6):
        first = client.get(url, params).json()
    # A page after the first reads its lines only: the cursor carries the figures.
    with django_assert_num_queries(5):
        second = client.get(url, {**params, "after": first["next_after"]}).json()
    third = client.get(url, {**params, "after": second["next_after"]}).json()
    tampered = client.get(url, {**params, "after": first["next_after"][:-2] + "xx"})
    other_period = client.get(url, {**params, "date_to": "2026-01-30", "after": first["next_after"]})
    csv = client.get(url, {**params, "export": "csv"})

    assert (first["opening_balance"], first["closing_balance"]) == ("50.00", "65.00")
    assert [line["balance"] for page in (first, second, third) for line in page["lines"]] == [
        "51.00",
        "53.00",
        "56.00",
        "60.00",
        "65.00",
    ]
    assert third["next_after"] is None
    assert {(page["opening_balance"], page["closing_balance"]) for page in (second, third)} == {("50.00", "65.00")}
    assert (tampered.status_code, other_period.status_code) == (400, 400)
    assert "after" in tampered.json()["error"]["fields"]
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0] == "Date,Entry,Description,Source,Debit,Credit,Balance"
    assert lines[1] == "2026-01-01,,Opening balance,,,,50.00"
    assert lines[-1] == "2026-01-31,,Closing balance,,15.00,0.00,65.00"
    assert len(lines) == 8


@pytest.mark.parametrize(
    "query, field",
    [
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "1900-01-01"}, "as_of"),
        ({"currency": "usd"}, "currency"),
        ({"by": "everything"}, "by"),
        ({"export": "pdf"}, "export"),
    ],
)
def test_bad_trial_balance_queries_are_400_with_the_field(query, field):
    response = api("Finance").get("/api/v1/ledger/trial-balance/", query)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_statement_ending_before_it_starts_is_400_and_an_unknown_account_404(small_book):
    client = api("Finance")

    bad = client.get(
        f"/api/v1/ledger/accounts/{small_book.pk}/statement/", {"date_from": "2026-02-01", "date_to": "2026-01-01"}
    )

    assert bad.status_code == 400 and "date_to" in bad.json()["error"]["fields"]
    assert client.get("/api/v1/ledger/accounts/999999/statement/").status_code == 404


def test_the_api_party_balances_by_category(small_book):
    services.record_payment(
        party=DRIVER, amount=D("20.00"), received_on=date(2026, 1, 6), idempotency_key="p", cash_account=small_book
    )
    client = api("Finance")

    body = client.get("/api/v1/ledger/parties/loans.driver/7/balances/", {"as_of": "2026-01-31"}).json()
    before = client.get("/api/v1/ledger/parties/loans.driver/7/balances/", {"as_of": "2026-01-05"}).json()
    csv = client.get("/api/v1/ledger/parties/loans.driver/7/balances/", {"as_of": "2026-01-31", "export": "csv"})

    assert body["balances"] == [
        {"category": "CREDIT", "currency": "USD", "balance": "-7.50"},
        {"category": "LOANS", "currency": "USD", "balance": "0.00"},
    ]
    assert before["balances"] == [{"category": "LOANS", "currency": "USD", "balance": "12.50"}]
    assert b"".join(csv.streaming_content).decode().splitlines() == [
        "Category,Currency,Balance",
        "CREDIT,USD,-7.50",
        "LOANS,USD,0.00",
    ]


def test_an_account_editor_without_the_view_permission_sees_no_report_links(client, small_book):
    from django.contrib.auth.models import Permission

    editor = staff(None, "eddie")
    editor.user_permissions.add(Permission.objects.get(codename="change_account", content_type__app_label="ledger"))
    client.force_login(editor)

    changelist = client.get(reverse("admin:ledger_account_changelist"))
    change = client.get(reverse("admin:ledger_account_change", args=[small_book.pk]))

    assert changelist.status_code == change.status_code == 200
    assert "trial-balance" not in changelist.content.decode()
    assert "/statement/" not in change.content.decode()
    assert client.get(reverse("admin:ledger_trial_balance")).status_code == 403
