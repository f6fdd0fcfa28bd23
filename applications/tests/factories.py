"""factory-boy factories for partners, customers and applications (rows, not service calls)."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, Partner, PartnerAPIKey, Reviewer, ReviewerRole
from applications.services import pan_blind_index
from loanproject.core.sensitive import Sensitive


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffUserFactory(UserFactory):
    is_staff = True


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    code = factory.Sequence(lambda n: f"partner-{n}")
    contact_email = factory.LazyAttribute(lambda o: f"api@{o.code}.example")
    service_user = factory.SubFactory(
        UserFactory, username=factory.LazyAttribute(lambda o: f"partner-svc-{o.factory_parent.code}")
    )


def issue_key(partner: Partner) -> str:
    _, key = PartnerAPIKey.objects.create_key(name="test key", partner=partner)
    return key


def pan_for(n: int) -> str:
    """A valid, unique-per-n PAN: ABCPE0001F, ABCPE0002F, ..."""
    return f"ABCPE{n % 10000:04d}{'FGHJKLMNPQ'[n // 10000 % 10]}"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    class Params:
        clear_pan = factory.Sequence(pan_for)

    partner = factory.SubFactory(PartnerFactory)
    external_ref = factory.Sequence(lambda n: f"CUST-{n:05d}")
    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1 212 555 {n % 10000:04d}")
    address = "1 Main Street, New York, NY"
    pan = factory.LazyAttribute(lambda o: Sensitive(o.clear_pan))
    pan_hash = factory.LazyAttribute(lambda o: pan_blind_index(o.clear_pan))


class LoanApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoanApplication

    customer = factory.SubFactory(CustomerFactory)
    partner = factory.LazyAttribute(lambda o: o.customer.partner)
    external_ref = factory.Sequence(lambda n: f"APP-{n:05d}")
    requested_amount = Decimal("10000.00")
    term_months = 36
    purpose = "vehicle"
    annual_income = Decimal("60000.00")
    employment_status = "employed"
    employment_duration_months = 24
    existing_debts = Decimal("5000.00")
    monthly_debt_payments = Decimal("300.00")
    credit_score = 700
    total_payments = 48
    late_payments = 1
    utilization = Decimal("25.00")
    credit_inquiries = 1
    credit_history_months = 60
    credit_mix = factory.LazyFunction(lambda: ["credit_card", "auto_loan"])
    repayment_history = factory.LazyFunction(lambda: [{"month": "2026-01", "status": "on_time"}])
    status = ApplicationStatus.SUBMITTED


class ReviewerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reviewer

    user = factory.SubFactory(StaffUserFactory)
    role = ReviewerRole.OFFICER
    approval_limit = Decimal("10000.00")
    capacity = 10
    manager = None


class ManagerFactory(ReviewerFactory):
    role = ReviewerRole.MANAGER
    approval_limit = Decimal("100000.00")
    capacity = 50
