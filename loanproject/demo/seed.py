"""Deterministic demo data, created through the same services the real doors use."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import Decision, Partner, PartnerAPIKey, RiskLevel
from loans.periods import current_week
from loans.schedules import Frequency, Method

DEMO_PARTNER_CODE = "demo-partner"
# A fixed key so README examples work on a fresh `make run`; refused outside DEBUG.
DEMO_API_KEY_PREFIX = "demo0001"
DEMO_API_KEY = f"{DEMO_API_KEY_PREFIX}.local-demo-key-never-use-in-production"
# The staff API token of fiona.finance (Finance role); like the key above, for DEBUG only.
DEMO_STAFF_TOKEN = "demo0finance0token0never0in0production00"

STAFF = [
    ("admin", "Ada", "Admin", None, True),
    ("olivia.officer", "Olivia", "Officer", "Loan officer", False),
    ("manny.manager", "Manny", "Manager", "Loan manager", False),
    ("fiona.finance", "Fiona", "Finance", "Finance", False),
    ("audrey.auditor", "Audrey", "Auditor", "Auditor", False),
]

FIRST_NAMES = ["Asha", "Ravi", "Maria", "John", "Chen", "Fatima", "Luis", "Priya", "Omar", "Grace", "Ken", "Nia"]
LAST_NAMES = ["Patel", "Kumar", "Garcia", "Smith", "Wei", "Khan", "Lopez", "Singh", "Haddad", "Okafor", "Sato", "Brown"]

# Status each demo application ends in; every status of the lifecycle appears.
STATUS_PLAN = [
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.SCORING,
    ApplicationStatus.PRE_APPROVED,
    ApplicationStatus.PRE_APPROVED,
    ApplicationStatus.MANUAL_REVIEW,
    ApplicationStatus.MANUAL_REVIEW,
    ApplicationStatus.APPROVED,
    ApplicationStatus.APPROVED,
    ApplicationStatus.REJECTED,
    ApplicationStatus.WITHDRAWN,
    ApplicationStatus.BOOKED,
]


@dataclass
class DemoSummary:
    created: bool
    password: str
    api_key: str
    staff_usernames: list[str]


def _pan(rng: random.Random) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return (
        "".join(rng.choice(letters) for _ in range(3))
        + "P"
        + rng.choice(letters)
        + f"{rng.randrange(10000):04d}"
        + rng.choice(letters)
    )


def _ensure_staff(password: str) -> None:
    User = get_user_model()
    for username, first, last, group_name, superuser in STAFF:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
        )
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))


def _demo_api_key(partner: Partner) -> None:
    hashed = PartnerAPIKey.objects.key_generator.hash(DEMO_API_KEY)
    PartnerAPIKey.objects.create(
        id=f"{DEMO_API_KEY_PREFIX}.{hashed}",
        prefix=DEMO_API_KEY_PREFIX,
        hashed_key=hashed,
        name="demo key",
        partner=partner,
    )


def _application_data(rng: random.Random, index: int) -> services.ApplicationData:
    income = Decimal(rng.randrange(30_000, 150_000, 1_000))
    total_payments = rng.randrange(12, 120)
    return services.ApplicationData(
        external_ref=f"DEMO-APP-{index + 1:03d}",
        requested_amount=Decimal(rng.randrange(2_000, 60_000, 500)),
        term_months=rng.choice([12, 24, 36, 48, 60]),
        purpose=rng.choice(["vehicle", "debt_consolidation", "home_improvement", "personal", "business"]),
        annual_income=income,
        employment_status=rng.choice(["employed", "employed", "self_employed"]),
        employment_duration_months=rng.randrange(3, 180),
        existing_debts=Decimal(rng.randrange(0, 40_000, 250)),
        monthly_debt_payments=Decimal(rng.randrange(0, 1_500, 25)),
        credit_score=rng.choice([None, rng.randrange(560, 860)]),
        total_payments=total_payments,
        late_payments=rng.randrange(0, max(1, total_payments // 10)),
        utilization=Decimal(rng.randrange(5, 95)),
        credit_inquiries=rng.randrange(0, 6),
        credit_history_months=rng.randrange(6, 240),
        credit_mix=rng.sample(["credit_card", "auto_loan", "mortgage", "student_loan"], k=2),
        repayment_history=[
            {"month": f"2026-{month:02d}", "status": rng.choice(["on_time", "on_time", "on_time", "late_30"])}
            for month in range(1, 7)
        ],
    )


def _walk_to(status: str, application, manager) -> None:
    """Drive a submitted application to `status` through the services."""
    if status == ApplicationStatus.SUBMITTED:
        return
    if status == ApplicationStatus.WITHDRAWN:
        services.withdraw_application(application_id=application.pk, expected_version=application.version, reason="customer changed their mind")
        return
    application = services.start_scoring(application_id=application.pk)
    if status == ApplicationStatus.SCORING:
        return
    outcome = {
        ApplicationStatus.PRE_APPROVED: Decision.PRE_APPROVED,
        ApplicationStatus.MANUAL_REVIEW: Decision.MANUAL_REVIEW,
        ApplicationStatus.REJECTED: Decision.REJECTED,
    }.get(status, Decision.PRE_APPROVED)
    application = services.apply_automated_decision(
        application_id=application.pk,
        expected_version=application.version,
        decision=outcome,
        risk_level=RiskLevel.HIGH if outcome == Decision.REJECTED else RiskLevel.MEDIUM,
        approved_amount=application.requested_amount if outcome == Decision.PRE_APPROVED else None,
        interest_rate=Decimal("11.50"),
        reasons=[services.Reason(code="R01", text="Debt-to-income ratio too high")] if outcome == Decision.REJECTED else [],
        conditions=["Proof of income required"] if outcome != Decision.REJECTED else [],
    )
    if status in (ApplicationStatus.APPROVED, ApplicationStatus.BOOKED):
        application = services.decide_application(
            application_id=application.pk, expected_version=application.version, approve=True, actor=manager, note="demo approval"
        )
    # BOOKED: left approved here; _seed_driver_loans books it as a driver loan.


@transaction.atomic
def load_demo_data(*, password: str | None = None) -> DemoSummary:
    password = password or secrets.token_urlsafe(12)
    _ensure_staff(password)
    User = get_user_model()
    admin_user = User.objects.get(username="admin")
    manager = User.objects.get(username="manny.manager")
    staff_usernames = [row[0] for row in STAFF]
    if Partner.objects.filter(code=DEMO_PARTNER_CODE).exists():
        return DemoSummary(created=False, password=password, api_key=DEMO_API_KEY, staff_usernames=staff_usernames)

    rng = random.Random(20261123)
    to_book = None
    with set_actor(admin_user):
        partner = services.register_partner(name="Demo Lending Partner", code=DEMO_PARTNER_CODE, contact_email="api@demo-partner.example")
        _demo_api_key(partner)
        other = services.register_partner(name="Second Partner", code="second-partner", contact_email="api@second.example")
        for index, status in enumerate(STATUS_PLAN):
            owner = partner if index % 4 else other
            first, last = FIRST_NAMES[index], LAST_NAMES[index]
            customer = services.CustomerData(
                external_ref=f"DEMO-CUST-{index + 1:03d}",
                full_name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}@example.com",
                phone=f"+1 212 555 {1000 + index:04d}",
                address=f"{10 + index} Demo Street, New York, NY",
                pan=_pan(rng),
            )
            application = services.submit_application(
                partner=owner, customer=customer, application=_application_data(rng, index)
            )
            _walk_to(status, application, manager)
            if status == ApplicationStatus.BOOKED:
                to_book = application
        _seed_driver_loans(finance=User.objects.get(username="fiona.finance"), application_to_book=to_book)
    return DemoSummary(created=True, password=password, api_key=DEMO_API_KEY, staff_usernames=staff_usernames)


DEMO_DRIVERS = [
    # TLC licence, name, medallion, loan (principal, weeks, annual %, method, frequency, weeks ago it started)
    ("5100101", "Kwame Mensah", "3A21", ("1500.00", 10, "10", Method.ANNUITY, Frequency.WEEKLY, 3)),
    ("5100102", "Sofia Rossi", "7B42", ("800.00", 8, "0", Method.EQUAL_PRINCIPAL, Frequency.WEEKLY, 2)),
    ("5100103", "Dmitri Volkov", "2C13", ("2600.00", 13, "12", Method.ANNUITY, Frequency.BIWEEKLY, 4)),
    ("5100104", "Amara Okeke", "9D77", ("450.00", 3, "5", Method.EQUAL_PRINCIPAL, Frequency.WEEKLY, 6)),
    ("5100105", "Hiro Tanaka", "4E58", None),  # books the approved application below
]


def _seed_driver_loans(*, finance, application_to_book) -> None:
    """Drivers and leases, one loan each (one booked from an approved application), the weeks up
    to last week posted, two payments (one settles a loan), this week left to post."""
    from loans import services as loans

    this_sunday = current_week()[0]
    with set_actor(finance):
        drivers = {}
        for index, (licence, name, medallion, terms) in enumerate(DEMO_DRIVERS):
            driver = loans.register_driver(
                data=loans.DriverData(tlc_license_number=licence, full_name=name, phone=f"+1 718 555 {2000 + index:04d}")
            )
            lease = loans.register_lease(
                driver_id=driver.pk, lease_number=f"DEMO-LEASE-{index + 1:03d}", medallion_number=medallion,
                start_date=this_sunday - timedelta(weeks=26), vehicle_plate=f"T{700000 + index}C",
            )
            drivers[licence] = (driver, lease)
            if terms is None:
                continue
            principal, weeks, rate, method, frequency, weeks_ago = terms
            loans.create_driver_loan(
                driver_id=driver.pk, lease_id=lease.pk, principal=Decimal(principal), start_week=this_sunday - timedelta(weeks=weeks_ago),
                installment_count=weeks, purpose="Vehicle repair", created_by=finance, annual_interest_rate=Decimal(rate),
                method=method, frequency=frequency, disbursed_on=this_sunday - timedelta(weeks=weeks_ago),
            )
        driver, lease = drivers["5100105"]
        loans.book_application_as_loan(
            application_id=application_to_book.pk, driver_id=driver.pk, lease_id=lease.pk,
            start_week=this_sunday - timedelta(weeks=5), created_by=finance, frequency=Frequency.MONTHLY, method=Method.FLAT,
        )
        last_week = this_sunday - timedelta(weeks=1)
        loans.post_weekly_installments(period_start=last_week, period_end=last_week + timedelta(days=6), started_by=finance)
        settled, _ = drivers["5100104"]
        loans.record_driver_payment(
            driver_id=settled.pk, amount=Decimal("460.00"), received_on=last_week + timedelta(days=2),
            idempotency_key="DEMO-PAY-1", reference="cash at the garage", created_by=finance,
        )
        partial, _ = drivers["5100101"]
        loans.record_driver_payment(
            driver_id=partial.pk, amount=Decimal("200.00"), received_on=last_week + timedelta(days=1),
            idempotency_key="DEMO-PAY-2", reference="bank transfer", created_by=finance,
        )
        _demo_staff_token(finance)


def _demo_staff_token(user) -> None:
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    Token.objects.create(user=user, key=DEMO_STAFF_TOKEN)
