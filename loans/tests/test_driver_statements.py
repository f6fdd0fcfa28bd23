"""The driver statement: a worked example, random periods after random postings, payments and
reversals (seeded), and its doors (admin page, staff API JSON, CSV, PDF) with their permissions
and query counts."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from freezegun import freeze_time
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.tests.factories import StaffUserFactory
from ledger import services as ledger
from ledger.models import Posting
from loans import services
from loans.accounts import driver_party
from loans.models import Installment
from loans.statements import driver_statement

from .conftest import week
from .factories import SUNDAY, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db

D = Decimal


def pay(driver_id: int, amount: str, on: date, key: str):
    return services.record_driver_payment(driver_id=driver_id, amount=D(amount), received_on=on, idempotency_key=key)


@pytest.fixture
def account():
    """1,000 at 0 % over 4 weeks (250 a week from 4 January 2026), two weeks posted, 300 paid on
    the 12th (all of week 1, 50 of week 2), 400 paid on the 19th after week 3 is posted (the
    rest of week 2 and 200 of week 3: 50 left to pay)."""
    loan = make_loan(principal="1000.00", weeks=4)
    services.post_weekly_installments(**week(SUNDAY))
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    pay(loan.driver_id, "300.00", date(2026, 1, 12), "p1")
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    pay(loan.driver_id, "400.00", date(2026, 1, 19), "p2")
    return loan


def test_a_weeks_statement_worked_example(account):
    statement = driver_statement(driver_id=account.driver_id, date_from=date(2026, 1, 11), date_to=date(2026, 1, 17))
    book = statement.book

    assert (book.opening_balance, book.charges, book.payments, book.closing_balance) == (
        D("250.00"),
        {"LOANS": D("250.00")},
        D("300.00"),
        D("200.00"),
    )
    assert [(a.reference, a.amount) for a in book.allocations] == [
        (f"{account.loan_number} #1", D("250.00")),
        (f"{account.loan_number} #2", D("50.00")),
    ]
    assert [(i.sequence, i.amount, i.paid, i.payment_state) for i in statement.installments] == [
        (2, D("250.00"), D("250.00"), "paid")  # paid since (the 19th): the schedule is as of today
    ]
    following = driver_statement(driver_id=account.driver_id, date_from=date(2026, 1, 18), date_to=date(2026, 1, 24))
    assert (following.opening_balance, following.book.total_charges, following.book.payments) == (
        D("200.00"),
        D("250.00"),
        D("400.00"),
    )
    assert (following.closing_balance, following.book.closing_credit) == (D("50.00"), D("0.00"))


def closing_from_postings(driver_id: int, day: date) -> Decimal:
    """The driver's balance summed in Python from every leg on its accounts: the independent sum."""
    party = driver_party(driver_id)
    legs = Posting.objects.filter(account__party_type=party.type, account__party_id=party.id).select_related("entry")
    return sum((leg.debit - leg.credit for leg in legs if leg.entry.entry_date <= day), D("0.00"))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_opening_plus_charges_less_payments_is_closing_for_random_periods(seed):
    rng = random.Random(seed)
    lease = LeaseFactory()
    loans = [
        make_loan(principal=f"{rng.randrange(500, 3000)}.{rng.randrange(100):02d}", weeks=8, rate="12.5", lease=lease)
        for _ in range(2)
    ]
    driver_id = lease.driver_id
    actor = StaffUserFactory()
    payments = []
    for n in range(8):
        sunday = SUNDAY + timedelta(weeks=n)
        services.post_weekly_installments(**week(sunday))
        for k in range(rng.randrange(3)):
            day = sunday + timedelta(days=rng.randrange(7))
            amount = f"{rng.randrange(1, 600)}.{rng.randrange(100):02d}"
            payments.append(pay(driver_id, amount, day, f"{n}-{k}").payment.entry.pk)
        if payments and rng.random() < 0.3:
            try:
                services.reverse_driver_payment(
                    driver_id=driver_id, payment_entry_id=payments.pop(), reason="bounced", actor=actor
                )
            except Exception as refusal:  # its credit was already used
                assert "credit" in str(refusal).lower()
        if rng.random() < 0.3:
            ledger.apply_party_credit(party=driver_party(driver_id), applied_on=sunday + timedelta(days=6))
    unpaid = Installment.objects.filter(loan__in=loans, status="posted").order_by("-id").first()
    if unpaid is not None and not unpaid.posted_entry.open_items.filter(allocations__isnull=False).exists():
        services.reverse_installment_posting(installment_id=unpaid.pk, reason="billed in error", actor=actor)

    for _ in range(12):
        date_from = SUNDAY + timedelta(days=rng.randrange(-7, 63))
        date_to = date_from + timedelta(days=rng.randrange(0, 40))
        statement = driver_statement(driver_id=driver_id, date_from=date_from, date_to=date_to)
        book = statement.book

        assert book.opening_balance == closing_from_postings(driver_id, date_from - timedelta(days=1))
        assert book.closing_balance == closing_from_postings(driver_id, date_to)
        assert book.opening_balance + book.total_charges - book.payments == book.closing_balance, (seed, date_from)
        assert all(date_from <= i.due_date <= date_to for i in statement.installments)


# --- Doors -----------------------------------------------------------------------------------------


def finance_api() -> APIClient:
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@freeze_time("2026-01-14 15:00:00")
def test_the_api_gives_this_weeks_statement_by_default(account, django_assert_num_queries):
    client = finance_api()
    url = f"/api/v1/drivers/{account.driver_id}/statement/"
    client.get(url)  # warm caches

    # Token with its user, permissions (2), the driver, balances, legs, allocations, installments.
    with django_assert_num_queries(8):
        body = client.get(url).json()

    assert {k: body[k] for k in ("date_from", "date_to", "opening_balance", "total_charges", "payments")} == {
        "date_from": "2026-01-11",
        "date_to": "2026-01-17",
        "opening_balance": "250.00",
        "total_charges": "250.00",
        "payments": "300.00",
    }
    assert body["closing_balance"] == "200.00"
    assert body["charges"] == {"LOANS": "250.00"}
    assert body["credit"] == {"opening": "0.00", "applied": "0.00", "closing": "0.00"}
    assert [p["amount"] for p in body["payment_lines"]] == ["300.00"]
    assert [(a["reference"], a["amount"]) for a in body["allocations"]] == [
        (f"{account.loan_number} #1", "250.00"),
        (f"{account.loan_number} #2", "50.00"),
    ]
    assert [(i["sequence"], i["due_date"], i["amount"]) for i in body["installments"]] == [(2, "2026-01-11", "250.00")]


def test_the_api_statement_of_any_period_as_csv_and_pdf(account):
    client = finance_api()
    url = f"/api/v1/drivers/{account.driver_id}/statement/"
    period = {"date_from": "2026-01-04", "date_to": "2026-01-31"}

    csv = b"".join(client.get(url, {**period, "export": "csv"}).streaming_content).decode().splitlines()
    pdf = client.get(url, {**period, "export": "pdf"})

    assert csv[0] == "Section,Date,Reference,Description,Category,Amount"
    assert csv[1] == "Opening balance,2026-01-04,,,,0.00"
    assert [line for line in csv if line.startswith("Charges total")] == ["Charges total,,,,Loans,750.00"]
    assert [line for line in csv if line.startswith("Payments total")] == ["Payments total,,,,,700.00"]
    assert csv[-1] == "Closing balance,2026-01-31,,,,50.00"
    assert sum(line.startswith("Installment,") for line in csv) == 4
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert "statement-" in pdf["Content-Disposition"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"week": "soon"}, "week"),
        ({"week": "1900-01-01"}, "week"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"week": "2026-01-04", "date_from": "2026-01-04"}, "week"),
        ({"export": "xlsx"}, "export"),
    ],
)
def test_bad_statement_queries_are_400_with_the_field(account, query, field):
    response = finance_api().get(f"/api/v1/drivers/{account.driver_id}/statement/", query)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_an_unknown_driver_is_404():
    assert finance_api().get("/api/v1/drivers/999999/statement/").status_code == 404


def test_the_driver_page_links_the_statement_page_and_its_files(client, account, django_assert_num_queries):
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Finance"))
    client.force_login(user)
    statement_url = reverse("admin:loans_driver_statement", args=[account.driver_id])
    query = {"week": "2026-01-12"}

    change = client.get(reverse("admin:loans_driver_change", args=[account.driver_id])).content.decode()
    client.get(statement_url, query)
    # Session, user, permissions (2), then the statement's five reads.
    with django_assert_num_queries(9):
        page = client.get(statement_url, query)
    pdf = client.get(statement_url, {**query, "export": "pdf"})

    assert statement_url in change
    assert page.status_code == 200
    assert page.context["book"].closing_balance == D("200.00")
    html = page.content.decode()
    assert "export=csv" in html and "export=pdf" in html and "week=2026-01-04" in html
    assert pdf.content.startswith(b"%PDF-")


def test_a_loan_officer_gets_403_and_a_driver_editor_without_view_no_link(client, account):
    officer = StaffUserFactory()
    officer.groups.add(Group.objects.get(name="Loan officer"))
    editor = StaffUserFactory()
    editor.user_permissions.add(Permission.objects.get(codename="change_driver"))
    statement_url = reverse("admin:loans_driver_statement", args=[account.driver_id])
    officer_api = APIClient()
    officer_api.force_authenticate(officer)

    client.force_login(officer)
    assert client.get(statement_url).status_code == 403
    assert officer_api.get(f"/api/v1/drivers/{account.driver_id}/statement/").status_code == 403
    client.force_login(editor)
    change = client.get(reverse("admin:loans_driver_change", args=[account.driver_id]))
    assert change.status_code == 200 and statement_url not in change.content.decode()
    assert client.get(statement_url).status_code == 403


def test_a_loan_manager_reads_driver_statements(client, account):
    manager = StaffUserFactory()
    manager.groups.add(Group.objects.get(name="Loan manager"))
    client.force_login(manager)

    assert client.get(reverse("admin:loans_driver_statement", args=[account.driver_id])).status_code == 200
    assert client.get(reverse("admin:loans_driver_statement", args=[999999])).status_code == 404
    bad = client.get(reverse("admin:loans_driver_statement", args=[account.driver_id]), {"week": "nope"})
    assert bad.status_code == 200 and "week" in bad.context["error"]
