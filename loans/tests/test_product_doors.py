"""Loan products through the doors: the admin (Finance publishes versions, books and previews)
and the staff API (list, preview, booking from a product), with the roles' permissions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.tests.factories import StaffUserFactory
from ledger.models import JournalEntry
from loans.models import DriverLoan, FeeCollection, FeeKind, LoanProduct
from loans.schedules import Frequency, Method

from .factories import LeaseFactory, make_product

pytestmark = pytest.mark.django_db
D = Decimal
PRODUCTS = "/api/v1/loan-products/"


def staff(role: str | None) -> StaffUserFactory:
    user = StaffUserFactory(is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def api_for(role: str | None) -> APIClient:
    user = staff(role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def admin_for(role: str) -> Client:
    client = Client()
    client.force_login(staff(role))
    return client


def product_form(**changes) -> dict:
    return {
        "code": "DRIVER-WEEKLY",
        "name": "Driver weekly loan",
        "currency": "USD",
        "min_principal": "500.00",
        "max_principal": "20000.00",
        "min_annual_rate": "5",
        "max_annual_rate": "15",
        "frequencies": ["weekly", "biweekly"],
        "methods": ["annuity"],
        "min_installments": "4",
        "max_installments": "104",
        "currency_digits": "2",
        "in_multiples_of": "0",
        "principal_grace_periods": "0",
        "origination_fee_kind": "none",
        "origination_fee_amount": "0",
        "origination_fee_percent": "0",
        "origination_fee_collection": "deducted",
        "late_fee_kind": "none",
        "late_fee_grace_days": "0",
        "late_fee_amount": "0",
        "late_fee_percent": "0",
        "late_fee_cap": "",
        "notes": "",
        **changes,
    }


# --- Admin ---------------------------------------------------------------------------------------


def test_finance_publishes_a_product_and_a_change_publishes_version_2():
    finance = admin_for("Finance")

    added = finance.post(reverse("admin:loans_loanproduct_add"), product_form())
    assert added.status_code == 302, added.context["adminform"].form.errors
    first = LoanProduct.objects.get()
    changed = finance.post(
        reverse("admin:loans_loanproduct_change", args=[first.pk]),
        product_form(code="IGNORED", max_annual_rate="12", principal_grace_periods="2"),
    )

    assert changed.status_code == 302, changed.context["adminform"].form.errors
    assert list(
        LoanProduct.objects.order_by("version").values_list("code", "version", "is_current", "max_annual_rate")
    ) == [("DRIVER-WEEKLY", 1, False, D("15.000")), ("DRIVER-WEEKLY", 2, True, D("12.000"))]


def test_finance_sets_late_fee_terms_in_the_admin_and_bad_ones_are_a_form_error():
    finance = admin_for("Finance")
    terms = {"late_fee_kind": "percent", "late_fee_percent": "5", "late_fee_cap": "10.00", "late_fee_grace_days": "3"}

    refused = finance.post(reverse("admin:loans_loanproduct_add"), product_form(**terms, late_fee_amount="2.00"))
    added = finance.post(reverse("admin:loans_loanproduct_add"), product_form(**terms))

    assert refused.status_code == 200
    assert list(refused.context["adminform"].form.errors) == ["__all__"]
    assert added.status_code == 302, added.context["adminform"].form.errors
    product = LoanProduct.objects.get()
    assert (product.late_fee_kind, product.late_fee_percent, product.late_fee_cap, product.late_fee_grace_days) == (
        "percent",
        D("5.000"),
        D("10.00"),
        3,
    )


def test_a_broken_product_is_a_form_error_and_publishes_nothing():
    finance = admin_for("Finance")

    response = finance.post(
        reverse("admin:loans_loanproduct_add"), product_form(min_principal="900", max_principal="800")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "max_principal": ["The principal range runs from a positive minimum up."]
    }
    assert LoanProduct.objects.count() == 0


@pytest.mark.parametrize("role", ["Loan manager", "Loan officer", "Auditor"])
def test_only_finance_publishes_products(role):
    response = admin_for(role).post(reverse("admin:loans_loanproduct_add"), product_form())

    assert response.status_code == 403
    assert LoanProduct.objects.count() == 0


def test_the_product_list_does_not_query_per_row(django_assert_num_queries):
    finance = admin_for("Finance")
    for n in range(3):
        make_product(code=f"P-{n}")
    finance.get(reverse("admin:loans_loanproduct_changelist"))  # warm caches

    with django_assert_num_queries(7):
        assert finance.get(reverse("admin:loans_loanproduct_changelist")).status_code == 200
    for n in range(3, 15):
        make_product(code=f"P-{n}", created_by=staff(None))
    with django_assert_num_queries(7):
        assert finance.get(reverse("admin:loans_loanproduct_changelist")).status_code == 200


def booking(lease, product, **changes) -> dict:
    return {
        "product": product.pk,
        "source_application": "",
        "driver": lease.driver_id,
        "lease": lease.pk,
        "principal": "1000.00",
        "annual_interest_rate": "",
        "start_week": "2026-01-04",
        "installment_count": 4,
        "frequency": "weekly",
        "method": "annuity",
        "purpose": "Brakes",
        **changes,
    }


def test_the_admin_previews_the_schedule_before_saving_and_books_the_same():
    finance = admin_for("Finance")
    product = make_product(origination_fee_kind=FeeKind.FLAT, origination_fee_amount=D("20.00"))
    lease = LeaseFactory()

    preview = finance.post(reverse("admin:loans_driverloan_add"), {**booking(lease, product), "_preview": "1"})

    assert preview.status_code == 200
    quote = preview.context["preview"]
    assert DriverLoan.objects.count() == 0 and JournalEntry.objects.count() == 0
    page = preview.content.decode()
    assert "Schedule preview: DRIVER-WEEKLY v1" in page and "cash disbursed 980.00" in page
    booked = finance.post(reverse("admin:loans_driverloan_add"), booking(lease, product))
    assert booked.status_code == 302, booked.context["adminform"].form.errors
    loan = DriverLoan.objects.get()
    assert [(r.sequence, r.due_date, r.principal, r.interest) for r in quote.schedule] == list(
        loan.installments.values_list("sequence", "due_date", "principal", "interest")
    )
    assert (loan.product, loan.annual_interest_rate, loan.origination_fee) == (product, D("5"), D("20.00"))


def test_an_admin_preview_outside_the_product_shows_the_field_errors():
    finance = admin_for("Finance")
    product = make_product()

    response = finance.post(
        reverse("admin:loans_driverloan_add"),
        {**booking(LeaseFactory(), product, principal="100.00", method="flat"), "_preview": "1"},
    )

    assert response.status_code == 200 and response.context["preview"] is None
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"principal", "method"}


# --- Staff API -----------------------------------------------------------------------------------


def test_the_api_lists_current_products_without_a_query_per_row(django_assert_num_queries):
    client = api_for("Loan manager")
    make_product(code="A-1")
    make_product(code="A-1", max_annual_rate=D("12"))
    make_product(code="B-2", created_by=staff(None))

    with django_assert_num_queries(5):
        body = client.get(PRODUCTS).json()

    assert [(row["code"], row["version"], row["max_annual_rate"]) for row in body["results"]] == [
        ("A-1", 2, "12.000"),
        ("B-2", 1, "15.000"),
    ]
    for n in range(10):
        make_product(code=f"C-{n}", created_by=staff(None))
    with django_assert_num_queries(5):
        assert len(client.get(PRODUCTS).json()["results"]) == 12


def preview_body(**changes) -> dict:
    return {"principal": "1000.00", "start_week": "2026-01-04", "installment_count": 4, **changes}


def test_the_api_previews_the_whole_schedule_with_totals_as_strings():
    client = api_for("Finance")
    make_product(
        code="WHOLE",
        currency_digits=0,
        installment_ceiling=True,
        frequencies=[Frequency.MONTHLY],
        methods=[Method.ANNUITY],
        max_principal=D("300000"),
        origination_fee_kind=FeeKind.PERCENT,
        origination_fee_percent=D("1"),
        origination_fee_collection=FeeCollection.FIRST_INSTALLMENT,
    )

    response = client.post(
        f"{PRODUCTS}whole/preview/",
        preview_body(principal="250000", annual_interest_rate="9.2", installment_count=18, frequency="monthly"),
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    # Frappe Lending's published figures (see test_schedule_rounding): 14,923 a month, 18,599 interest.
    assert {key: body[key] for key in body if key != "schedule"} == {
        "product_code": "WHOLE",
        "product_version": 1,
        "principal": "250000.00",
        "annual_interest_rate": "9.200",
        "start_week": "2026-01-04",
        "installment_count": 18,
        "frequency": "monthly",
        "method": "annuity",
        "principal_grace_periods": 0,
        "origination_fee": "2500.00",
        "origination_fee_collection": "first_installment",
        "disbursed": "250000.00",
        "total_principal": "250000.00",
        "total_interest": "18599.00",
        "total_repaid": "271099.00",
    }
    assert len(body["schedule"]) == 18
    assert body["schedule"][0] == {
        "sequence": 1,
        "due_date": "2026-01-04",
        "principal": "13006.00",
        "interest": "1917.00",
        "amount": "14923.00",
        "balance_after": "236994.00",
    }
    assert DriverLoan.objects.count() == 0


def test_an_api_preview_outside_the_product_is_a_400_naming_the_fields():
    make_product()

    response = api_for("Finance").post(
        f"{PRODUCTS}DRIVER-WEEKLY/preview/",
        preview_body(principal="100.00", annual_interest_rate="16", frequency="monthly"),
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"principal", "annual_interest_rate", "frequency"}


@pytest.mark.parametrize("role, status", [("Finance", 200), ("Loan manager", 403), ("Auditor", 403)])
def test_previewing_needs_the_booking_permission(role, status):
    make_product()

    response = api_for(role).post(f"{PRODUCTS}DRIVER-WEEKLY/preview/", preview_body(), format="json")

    assert response.status_code == status


def test_an_unknown_product_is_a_404():
    assert api_for("Finance").post(f"{PRODUCTS}NOPE/preview/", preview_body(), format="json").status_code == 404


def test_the_api_books_a_loan_from_a_product_and_shows_its_terms():
    product = make_product(
        principal_grace_periods=1,
        origination_fee_kind=FeeKind.FLAT,
        origination_fee_amount=D("15.00"),
        origination_fee_collection=FeeCollection.FIRST_INSTALLMENT,
    )
    lease = LeaseFactory()
    body = {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": "1040.00",
        "annual_interest_rate": "10",
        "start_week": "2026-01-04",
        "installment_count": 5,
        "purpose": "Engine",
        "product": "driver-weekly",
    }

    created = api_for("Finance").post("/api/v1/loans/", body, format="json")

    assert created.status_code == 201, created.json()
    loan = created.json()
    assert {key: loan[key] for key in ("product_code", "product_version", "principal_grace_periods")} == {
        "product_code": "DRIVER-WEEKLY",
        "product_version": product.version,
        "principal_grace_periods": 1,
    }
    assert (loan["origination_fee"], loan["origination_fee_collection"]) == ("15.00", "first_installment")
    # By hand: 1,040.00 at 10 % / 52 = 2.00 a week interest only, then 1040 r / (1 - (1 + r)^-4) = 261.25.
    assert [(row["principal"], row["interest"]) for row in loan["schedule"][:2]] == [
        ("0.00", "2.00"),
        ("259.25", "2.00"),
    ]


def test_booking_outside_the_product_through_the_api_is_a_400_and_books_nothing():
    make_product()
    lease = LeaseFactory()
    body = {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": "50000.00",
        "start_week": "2026-01-04",
        "installment_count": 2,
        "purpose": "Engine",
        "product": "DRIVER-WEEKLY",
    }

    response = api_for("Finance").post("/api/v1/loans/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"principal", "installment_count"}
    assert (DriverLoan.objects.count(), JournalEntry.objects.count()) == (0, 0)
