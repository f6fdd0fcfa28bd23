"""Every rule in core.rules.REFUSALS exists in the database, and breaking it through a door is the
field error users see, with nothing written."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.test import APIClient

from agents import services as agents
from agents.models import ScoringPolicy
from applications import services as applications
from applications.models import LoanApplication, Reviewer
from applications.tests.factories import CustomerFactory, PartnerFactory, ReviewerFactory, StaffUserFactory, issue_key
from finance.models import Account, BankConnection, Budget, Goal
from finance.services.budgets import create_budget
from finance.services.goals import create_goal
from finance.tests.factories import TOKEN, BankConnectionFactory
from ledger.models import Account as LedgerAccount
from ledger.services.accounts import open_account
from loanproject.core.errors import Conflict
from loanproject.core.rules import REFUSALS
from loans import services as loans
from loans.models import Driver, Lease
from loans.tests.factories import DriverFactory, LeaseFactory

pytestmark = pytest.mark.django_db

D = Decimal


def test_every_refusal_names_a_constraint_of_the_database():
    with connection.cursor() as cursor:  # a partial unique constraint is a unique index
        cursor.execute("SELECT conname FROM pg_constraint UNION SELECT relname FROM pg_class WHERE relkind = 'i'")
        names = {name for (name,) in cursor.fetchall()}

    assert sorted(set(REFUSALS) - names) == []


def violated(name: str) -> dict[str, list[str]]:
    return {"__all__": [f"Constraint “{name}” is violated."]}


# --- API ----------------------------------------------------------------------------------------


@pytest.fixture
def partner_client():
    partner = PartnerFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")
    client.partner = partner
    return client


def post(client, path, body):
    return client.post(f"/api/v1/finance{path}", data=json.dumps(body), content_type="application/json")


def test_a_provider_account_twice_on_a_connection_is_a_409_naming_the_field(partner_client):
    bank = BankConnectionFactory(customer=CustomerFactory(partner=partner_client.partner))
    body = {
        "connection": bank.pk,
        "provider_account_id": "sav-1",
        "name": "Savings",
        "type": "savings",
        "current_balance": "1.00",
    }
    post(partner_client, "/accounts/", body)

    again = post(partner_client, "/accounts/", {**body, "name": "Again"})

    assert again.status_code == 409
    assert again.json()["error"] == {
        "status": 409,
        "code": "account_exists",
        "message": "Already exists on this connection.",
        "fields": {"provider_account_id": ["Already exists on this connection."]},
    }
    assert list(Account.objects.values_list("name", flat=True)) == ["Savings"]


def test_a_bank_item_linked_twice_is_a_409_naming_the_field(partner_client):
    customer = CustomerFactory(partner=partner_client.partner)
    body = {
        "customer": customer.pk,
        "provider": "plaid",
        "institution_name": "Chase",
        "item_id": "item-9",
        "access_token": TOKEN,
    }
    post(partner_client, "/connections/", body)

    again = post(partner_client, "/connections/", {**body, "institution_name": "Again"})

    assert again.status_code == 409
    assert again.json()["error"] == {
        "status": 409,
        "code": "connection_exists",
        "message": "This item is already linked.",
        "fields": {"item_id": ["This item is already linked."]},
    }
    assert list(BankConnection.objects.values_list("institution_name", flat=True)) == ["Chase"]


def test_a_budget_ending_before_it_starts_is_a_400_with_the_message(partner_client):
    customer = CustomerFactory(partner=partner_client.partner)

    response = post(
        partner_client,
        "/budgets/",
        {
            "customer": customer.pk,
            "name": "Home",
            "period": "monthly",
            "start_date": "2026-03-01",
            "end_date": "2026-02-01",
            "limits": [{"category": "rent", "amount": "900.00"}],
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"__all__": ["The end date cannot be before the start date."]}
    assert Budget.objects.count() == 0


# --- Services (the admin and the commands call them) ---------------------------------------------


def test_a_goal_without_a_positive_target_is_refused_with_the_message():
    with pytest.raises(ValidationError) as refused:
        create_goal(customer_id=CustomerFactory().pk, name="Car", target_amount=D("0.00"), target_date=date(2027, 1, 1))

    assert refused.value.message_dict == {"__all__": ["The target amount must be positive."]}
    assert Goal.objects.count() == 0


def test_a_negative_saved_amount_is_refused_with_the_message():
    with pytest.raises(ValidationError) as refused:
        create_goal(
            customer_id=CustomerFactory().pk,
            name="Car",
            target_amount=D("10.00"),
            current_amount=D("-1.00"),
            target_date=date(2027, 1, 1),
        )

    assert refused.value.message_dict == {"__all__": ["The saved amount cannot be negative."]}
    assert Goal.objects.count() == 0


def test_a_budget_ending_before_it_starts_is_refused_by_the_service_too():
    with pytest.raises(ValidationError) as refused:
        create_budget(
            customer_id=CustomerFactory().pk,
            name="Home",
            period="monthly",
            start_date=date(2026, 3, 1),
            end_date=date(2026, 2, 1),
            limits={"rent": "900.00"},
        )

    assert refused.value.message_dict == {"__all__": ["The end date cannot be before the start date."]}
    assert Budget.objects.count() == 0


def test_an_account_currency_that_is_no_iso_code_is_refused_with_the_message():
    from finance.services.accounts import AccountData
    from finance.services.accounts import open_account as open_finance_account

    bank = BankConnectionFactory()
    with pytest.raises(ValidationError) as refused:
        open_finance_account(
            connection_id=bank.pk,
            data=AccountData(
                provider_account_id="x", name="X", type="checking", current_balance=D("1.00"), currency="usd"
            ),
        )

    assert refused.value.message_dict == {"__all__": ["Currency is a three-letter ISO 4217 code, e.g. USD."]}
    assert Account.objects.count() == 0


def test_a_ledger_account_currency_that_is_no_iso_code_is_refused():
    with pytest.raises(ValidationError) as refused:
        open_account(code="1000", name="Cash", type="asset", currency="usd")

    assert refused.value.message_dict == violated("ledger_account_currency_iso")
    assert LedgerAccount.objects.filter(code="1000").count() == 0


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"requested_amount": D("0.00")}, "application_requested_amount_positive"),
        ({"annual_income": D("-1.00")}, "application_money_non_negative"),
        ({"credit_score": 950}, "application_credit_score_300_900"),
        ({"utilization": D("100.01")}, "application_utilization_percent"),
        ({"late_payments": 11}, "application_late_within_total_payments"),
        ({"term_months": 361}, "application_term_1_360_months"),
    ],
)
def test_a_staff_entered_application_out_of_range_is_refused_with_the_constraint(changes, constraint):
    from applications.tests.test_services import application_data, customer_data

    with pytest.raises(ValidationError) as refused:
        applications.submit_application(
            partner=None, customer=customer_data(external_ref=""), application=application_data(**changes)
        )

    assert refused.value.message_dict == violated(constraint)
    assert LoanApplication.objects.count() == 0


@pytest.fixture
def authority():
    from django.contrib.auth.models import Permission

    actor = StaffUserFactory()
    actor.user_permissions.add(Permission.objects.get(codename="manage_reviewer_authority"))
    return type(actor).objects.get(pk=actor.pk)


def test_a_user_made_reviewer_twice_is_refused_with_the_message(authority):
    reviewer = ReviewerFactory()

    with pytest.raises(ValidationError) as refused:
        applications.register_reviewer(actor=authority, user=reviewer.user, role="officer", approval_limit=D("1.00"))

    assert refused.value.message_dict == {"user": ["Reviewer with this User already exists."]}
    assert Reviewer.objects.count() == 1


@pytest.mark.parametrize(
    "changes, constraint",
    [({"approval_limit": D("-1.00")}, "reviewer_limit_non_negative"), ({"capacity": 0}, "reviewer_capacity_positive")],
)
def test_a_reviewer_out_of_range_is_refused_with_the_constraint(authority, changes, constraint):
    values = {"role": "officer", "approval_limit": D("1.00"), **changes}

    with pytest.raises(ValidationError) as refused:
        applications.register_reviewer(actor=authority, user=StaffUserFactory(), **values)

    assert refused.value.message_dict == violated(constraint)
    assert Reviewer.objects.count() == 0


@pytest.mark.parametrize(
    "changes, constraint",
    [
        (
            {"reject_below_credit_score": 700, "pre_approve_from_credit_score": 699},
            "scoring_policy_credit_scores_ordered",
        ),
        ({"pre_approve_max_back_end_dti": D("99.00")}, "scoring_policy_dti_ordered"),
        ({"reject_above_risk_score": D("100.01")}, "scoring_policy_risk_ordered"),
        ({"pre_approve_max_amount": D("0.00")}, "scoring_policy_amounts_ordered"),
        ({"min_annual_income": D("-0.01")}, "scoring_policy_income_non_negative"),
        ({"rate_low": D("99.00")}, "scoring_policy_rates_rise_with_risk"),
    ],
)
def test_a_policy_out_of_order_is_refused_with_the_constraint(changes, constraint):
    active = ScoringPolicy.objects.get(is_active=True)
    rules = {field: getattr(active, field) for field in agents.POLICY_FIELDS} | changes

    with pytest.raises(ValidationError) as refused:
        agents.publish_scoring_policy(created_by=None, **rules)

    assert refused.value.message_dict == violated(constraint)
    assert list(ScoringPolicy.objects.values_list("pk", "is_active")) == [(active.pk, True)]


def test_a_taken_tlc_licence_is_a_conflict_naming_the_field():
    DriverFactory(tlc_license_number="5001234")

    with pytest.raises(Conflict) as refused:
        loans.register_driver(data=loans.DriverData(tlc_license_number="5001234", full_name="Other"))

    assert (refused.value.code, refused.value.fields) == (
        "driver_exists",
        {"tlc_license_number": ["A driver with this TLC licence is already registered."]},
    )
    assert Driver.objects.count() == 1


def test_a_taken_lease_number_is_a_conflict_naming_the_field():
    lease = LeaseFactory()

    with pytest.raises(Conflict) as refused:
        loans.register_lease(
            driver_id=lease.driver_id,
            lease_number=lease.lease_number,
            medallion_number="1A23",
            start_date=date(2026, 1, 4),
        )

    assert (refused.value.code, refused.value.fields) == (
        "lease_exists",
        {"lease_number": ["A lease with this number already exists."]},
    )
    assert Lease.objects.count() == 1
