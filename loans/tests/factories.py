"""Factories: drivers and leases are rows; loans are booked through the service (schedule,
disbursement entry and all)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.tests.factories import StaffUserFactory
from loans import services
from loans.models import CollectionCase, DelinquencyClass, Driver, DriverLoan, Lease, LoanProduct
from loans.schedules import Frequency, Method

SUNDAY = date(2026, 1, 4)  # a Sunday; the weeks of January 2026 start on 4, 11, 18, 25


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    tlc_license_number = factory.Sequence(lambda n: f"{5100000 + n}")
    full_name = factory.Sequence(lambda n: f"Driver {n}")
    email = factory.Sequence(lambda n: f"driver{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1 718 555 {n % 10000:04d}")


class LeaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lease

    driver = factory.SubFactory(DriverFactory)
    lease_number = factory.Sequence(lambda n: f"LS-{n:05d}")
    medallion_number = factory.Sequence(lambda n: f"{n % 9 + 1}X{n % 100:02d}")
    start_date = date(2025, 6, 1)


def make_loan(
    *,
    principal: str = "1000.00",
    weeks: int = 4,
    rate: str = "0",
    start: date = SUNDAY,
    lease: Lease | None = None,
    created_by=None,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
) -> DriverLoan:
    lease = lease or LeaseFactory()
    return services.create_driver_loan(
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        principal=Decimal(principal),
        start_week=start,
        installment_count=weeks,
        purpose="Vehicle repair",
        created_by=created_by or StaffUserFactory(),
        annual_interest_rate=Decimal(rate),
        frequency=frequency,
        method=method,
        disbursed_on=start,
    )


PRODUCT_TERMS = {
    "name": "Driver weekly loan",
    "currency": "USD",
    "min_principal": Decimal("500.00"),
    "max_principal": Decimal("20000.00"),
    "min_annual_rate": Decimal("5"),
    "max_annual_rate": Decimal("15"),
    "frequencies": [Frequency.WEEKLY, Frequency.BIWEEKLY],
    "methods": [Method.ANNUITY, Method.EQUAL_PRINCIPAL],
    "min_installments": 4,
    "max_installments": 104,
}


def make_product(*, code: str = "DRIVER-WEEKLY", created_by=None, **changes) -> LoanProduct:
    """A product version published through the service (version n+1 of `code`)."""
    return services.publish_loan_product(code=code, created_by=created_by, **{**PRODUCT_TERMS, **changes})


def book_from_product(
    product: LoanProduct,
    *,
    principal: str = "1000.00",
    count: int = 4,
    rate: str | None = None,
    lease: Lease | None = None,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
    created_by=None,
) -> DriverLoan:
    lease = lease or LeaseFactory()
    return services.create_driver_loan(
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        principal=Decimal(principal),
        start_week=SUNDAY,
        installment_count=count,
        purpose="Vehicle repair",
        created_by=created_by or StaffUserFactory(),
        annual_interest_rate=None if rate is None else Decimal(rate),
        frequency=frequency,
        method=method,
        disbursed_on=SUNDAY,
        product_id=product.pk,
    )


class CollectionCaseFactory(factory.django.DjangoModelFactory):
    """A driver's case in the queue as the refresh writes it (for the doors' tests: the figures'
    derivation is tested through the services)."""

    class Meta:
        model = CollectionCase

    driver = factory.SubFactory(DriverFactory)
    days_past_due = 10
    overdue_amount = Decimal("200.00")
    delinquency_class = factory.LazyFunction(lambda: DelinquencyClass.objects.get(code="8-30"))
    as_of = date(2026, 1, 14)


def staff(role: str, username: str):
    """A staff user in one of the roles setup_roles makes (Finance, Collector...)."""
    user = StaffUserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def api(user) -> APIClient:
    """The staff API as `user` (token authentication)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client
