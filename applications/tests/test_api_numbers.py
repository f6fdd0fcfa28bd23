"""Money and integers on application submit are read as strictly as finance reads them: plain
decimals in the digits 0-9, no exponent, no underscores, no other script's digits."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from applications.models import Customer, LoanApplication

from .payloads import application_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/applications/"
MONEY = ["requested_amount", "annual_income", "existing_debts", "monthly_debt_payments", "utilization"]
INTEGERS = [
    "term_months",
    "employment_duration_months",
    "credit_score",
    "total_payments",
    "late_payments",
    "credit_inquiries",
    "credit_history_months",
]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def bad_forms(valid) -> dict[str, str]:
    """The valid value written the ways Python's int() and Decimal() accept and finance refuses."""
    text = str(valid)
    whole = text.split(".")[0]
    return {
        "fullwidth": text.translate(FULLWIDTH),  # "１０００"
        "arabic-indic": text.translate(ARABIC_INDIC),  # "١٢"
        "underscore": f"{whole[0]}_{text[1:]}" if len(whole) > 1 else f"0_{text}",  # "1_000"
        "exponent": f"{Decimal(whole) / 10}e1",  # "1e5"
    }


CASES = [
    (field, form, value)
    for field in MONEY + INTEGERS
    for form, value in bad_forms(application_payload()[field]).items()
]


def post(client, raw: str):
    return client.post(URL, data=raw, content_type="application/json")


@pytest.mark.parametrize("field, form, value", CASES, ids=[f"{field}-{form}" for field, form, _ in CASES])
def test_a_number_finance_refuses_is_a_400_naming_the_field(partner_client, field, form, value):
    response = post(partner_client, json.dumps(application_payload(**{field: value})))

    assert response.status_code == 400, (value, response.json())
    assert list(response.json()["error"]["fields"]) == [field]
    assert (LoanApplication.objects.count(), Customer.objects.count()) == (0, 0)


@pytest.mark.parametrize("field", MONEY)
def test_a_json_number_in_exponent_form_is_a_400(partner_client, field):
    raw = json.dumps(application_payload(**{field: "PLACEHOLDER"})).replace('"PLACEHOLDER"', "2.5e1")

    response = post(partner_client, raw)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize(
    "changes, stored",
    [
        ({"requested_amount": "25000"}, {"requested_amount": Decimal("25000.00")}),
        ({"requested_amount": " 25000.50 "}, {"requested_amount": Decimal("25000.50")}),
        ({"requested_amount": 25000}, {"requested_amount": Decimal("25000.00")}),
        ({"utilization": "-0"}, {"utilization": Decimal("0.00")}),
        ({"term_months": "48", "credit_score": " 700 "}, {"term_months": 48, "credit_score": 700}),
        ({"term_months": 48}, {"term_months": 48}),
    ],
)
def test_plain_numbers_are_still_accepted(partner_client, changes, stored):
    response = post(partner_client, json.dumps(application_payload(**changes)))

    assert response.status_code == 202, response.json()
    application = LoanApplication.objects.get()
    assert {name: getattr(application, name) for name in stored} == stored


def test_a_json_number_with_a_fraction_is_an_exact_decimal(partner_client):
    raw = json.dumps(application_payload(requested_amount="PLACEHOLDER")).replace('"PLACEHOLDER"', "25000.10")

    response = post(partner_client, raw)

    assert response.status_code == 202
    assert LoanApplication.objects.get().requested_amount == Decimal("25000.10")


def test_a_month_in_another_scripts_digits_is_a_400(partner_client):
    body = application_payload(repayment_history=[{"month": "٢٠٢٦-01", "status": "on_time"}])

    response = post(partner_client, json.dumps(body))

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["repayment_history.0.month"]
