"""Deterministic demo data, created through the same services the real doors use.

Applications are submitted like a partner would submit them and scored by the real agents when
the submission commits (tasks run in-process in development); the demo then takes some of them
through review, withdrawal and booking so that every status appears. Each customer of the
profiles also gets personal finance (finance_seed.py): bank accounts, months of transactions
whose salary matches the declared income, a budget, goals and net-worth snapshots.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from auditlog.context import set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Partner, PartnerAPIKey, Reviewer, ReviewerRole
from loanproject.core import topics
from loanproject.core.models import OutboxEvent
from loans.periods import current_week
from loans.schedules import Frequency, Method

from .finance_seed import seed_demo_finance

DEMO_PARTNER_CODE = "demo-partner"
# A fixed key so README examples work on a fresh `make run`; refused outside DEBUG.
DEMO_API_KEY_PREFIX = "demo0001"
DEMO_API_KEY = f"{DEMO_API_KEY_PREFIX}.local-demo-key-never-use-in-production"
# A fixed staff API token for fiona.finance, for the README examples; refused outside DEBUG too.
DEMO_STAFF_TOKEN = "demo0finance0token0never0in0production00"

STAFF = [
    ("admin", "Ada", "Admin", None, True),
    ("olivia.officer", "Olivia", "Officer", "Loan officer", False),
    ("omar.officer", "Omar", "Officer", "Loan officer", False),
    ("manny.manager", "Manny", "Manager", "Loan manager", False),
    ("carla.credit", "Carla", "Credit", "Credit administrator", False),
    ("fiona.finance", "Fiona", "Finance", "Finance", False),
    ("felix.finance", "Felix", "Finance", "Finance", False),  # the second person of maker-checker
    ("audrey.auditor", "Audrey", "Auditor", "Auditor", False),
]

# name, requested, income, credit score, late payments, utilization, monthly debts: chosen so the
# agents pre-approve some, refer some to a reviewer and reject some.
PROFILES = [
    ("Asha Patel", "15000", "120000", 780, 0, "10", "300"),
    ("Ravi Kumar", "8000", "95000", 760, 1, "15", "250"),
    ("Maria Garcia", "12000", "88000", 745, 0, "20", "400"),
    ("John Smith", "20000", "150000", 800, 0, "5", "500"),
    ("Chen Wei", "45000", "130000", 720, 2, "25", "800"),
    ("Fatima Khan", "30000", "90000", 690, 3, "35", "900"),
    ("Luis Lopez", "9000", "60000", 640, 6, "55", "700"),
    ("Priya Singh", "60000", "160000", 735, 1, "30", "1200"),
    ("Omar Haddad", "18000", "70000", 700, 2, "40", "650"),
    ("Grace Okafor", "25000", "40000", 520, 14, "90", "1500"),
    ("Ken Sato", "12000", "30000", 560, 9, "85", "1100"),
    ("Nia Brown", "7000", "10000", 600, 5, "70", "300"),
]


@dataclass
class DemoSummary:
    created: bool
    password: str
    api_key: str
    staff_usernames: list[str]


def _pan(index: int) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"{letters[index]}{letters[index + 1]}{letters[index + 2]}PD{1000 + index * 7:04d}{letters[index % 24]}"


def _ensure_staff(password: str) -> None:
    User = get_user_model()
    for username, first, last, group_name, superuser in STAFF:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))


def _ensure_reviewers() -> None:
    User = get_user_model()
    if Reviewer.objects.exists():
        return
    credit_administrator = User.objects.get(username="carla.credit")  # sets who approves what
    manager = services.register_reviewer(
        actor=credit_administrator,
        user=User.objects.get(username="manny.manager"),
        role=ReviewerRole.MANAGER,
        approval_limit=Decimal("100000.00"),
        capacity=50,
    )
    for username in ("olivia.officer", "omar.officer"):
        services.register_reviewer(
            actor=credit_administrator,
            user=User.objects.get(username=username),
            role=ReviewerRole.OFFICER,
            approval_limit=Decimal("20000.00"),
            capacity=25,
            manager=manager,
        )


def _demo_api_key(partner: Partner) -> None:
    hashed = PartnerAPIKey.objects.key_generator.hash(DEMO_API_KEY)
    PartnerAPIKey.objects.create(
        id=f"{DEMO_API_KEY_PREFIX}.{hashed}",
        prefix=DEMO_API_KEY_PREFIX,
        hashed_key=hashed,
        name="demo key",
        partner=partner,
    )


def _submit(owner: Partner, index: int, profile: tuple) -> LoanApplication:
    name, requested, income, score, late, utilization, debts = profile
    first, last = name.split()
    return services.submit_application(
        partner=owner,
        customer=services.CustomerData(
            external_ref=f"DEMO-CUST-{index + 1:03d}",
            full_name=name,
            email=f"{first.lower()}.{last.lower()}@example.com",
            phone=f"+1 212 555 {1000 + index:04d}",
            address=f"{10 + index} Demo Street, New York, NY",
            pan=_pan(index),
        ),
        application=services.ApplicationData(
            external_ref=f"DEMO-APP-{index + 1:03d}",
            requested_amount=Decimal(requested),
            term_months=36,
            purpose=["vehicle", "debt_consolidation", "home_improvement", "business"][index % 4],
            annual_income=Decimal(income),
            employment_status="employed" if index % 5 else "self_employed",
            employment_duration_months=24 + index * 6,
            monthly_debt_payments=Decimal(debts),
            existing_debts=Decimal(debts) * 20,
            credit_score=score,
            total_payments=60 + index * 5,
            late_payments=late,
            utilization=Decimal(utilization),
            credit_inquiries=index % 4,
            credit_history_months=36 + index * 8,
            credit_mix=["credit_card", "auto_loan", "mortgage"][: 1 + index % 3],
            repayment_history=[
                {"month": f"2026-{m:02d}", "status": "late_30" if m <= late % 4 else "on_time"} for m in range(1, 7)
            ],
        ),
    )


def _first(status: str, exclude: set) -> LoanApplication | None:
    return LoanApplication.objects.filter(status=status).exclude(pk__in=exclude).order_by("external_ref").first()


def _walk_through_review(users: dict) -> None:
    """Approve, escalate, withdraw, book and re-score a few scored applications."""
    touched: set = set()
    # An officer approves within their limit.
    small = (
        LoanApplication.objects.filter(status=ApplicationStatus.MANUAL_REVIEW, requested_amount__lte=20000)
        .order_by("external_ref")
        .first()
    )
    if small:
        services.record_review_decision(
            application_id=small.pk,
            expected_version=small.version,
            reviewer_user=small.assigned_to or users["olivia.officer"],
            approve=True,
            comment="Income documents checked",
        )
        touched.add(small.pk)
    # Above the officer's limit: the officer proposes, the manager confirms (four eyes).
    large = (
        LoanApplication.objects.filter(status=ApplicationStatus.MANUAL_REVIEW, requested_amount__gt=20000)
        .order_by("external_ref")
        .first()
    )
    if large:
        proposer = large.assigned_to or users["olivia.officer"]
        services.record_review_decision(
            application_id=large.pk,
            expected_version=large.version,
            reviewer_user=proposer,
            approve=True,
            comment="Strong file, above my limit",
        )
        large.refresh_from_db()
        services.record_review_decision(
            application_id=large.pk,
            expected_version=large.version,
            reviewer_user=users["manny.manager"],
            approve=True,
            comment="Confirmed",
        )
        touched.add(large.pk)
    # A customer withdraws a pre-approval.
    withdrawn = _first(ApplicationStatus.PRE_APPROVED, touched)
    if withdrawn:
        services.withdraw_application(
            application_id=withdrawn.pk, expected_version=withdrawn.version, reason="Customer found other financing"
        )
        touched.add(withdrawn.pk)
    # An approved application is booked as a driver loan by _seed_driver_loans.
    # Staff ask for a re-score; it waits for `manage.py score_applications` (or the admin action).
    rescore = _first(ApplicationStatus.MANUAL_REVIEW, touched)
    if rescore:
        services.request_rescoring(application_ids=[rescore.pk])


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
                data=loans.DriverData(
                    tlc_license_number=licence, full_name=name, phone=f"+1 718 555 {2000 + index:04d}"
                )
            )
            lease = loans.register_lease(
                driver_id=driver.pk,
                lease_number=f"DEMO-LEASE-{index + 1:03d}",
                medallion_number=medallion,
                start_date=this_sunday - timedelta(weeks=26),
                vehicle_plate=f"T{700000 + index}C",
            )
            drivers[licence] = (driver, lease)
            if terms is None:
                continue
            principal, weeks, rate, method, frequency, weeks_ago = terms
            loans.create_driver_loan(
                driver_id=driver.pk,
                lease_id=lease.pk,
                principal=Decimal(principal),
                start_week=this_sunday - timedelta(weeks=weeks_ago),
                installment_count=weeks,
                purpose="Vehicle repair",
                created_by=finance,
                annual_interest_rate=Decimal(rate),
                method=method,
                frequency=frequency,
                disbursed_on=this_sunday - timedelta(weeks=weeks_ago),
            )
        driver, lease = drivers["5100105"]
        if application_to_book is not None:  # None when scoring waits for a worker (not in-process)
            loans.book_application_as_loan(
                application_id=application_to_book.pk,
                driver_id=driver.pk,
                lease_id=lease.pk,
                start_week=this_sunday - timedelta(weeks=5),
                created_by=finance,
                frequency=Frequency.MONTHLY,
                method=Method.FLAT,
            )
        last_week = this_sunday - timedelta(weeks=1)
        loans.post_weekly_installments(
            period_start=last_week, period_end=last_week + timedelta(days=6), started_by=finance
        )
        settled, _ = drivers["5100104"]
        loans.record_driver_payment(
            driver_id=settled.pk,
            amount=Decimal("460.00"),
            received_on=last_week + timedelta(days=2),
            idempotency_key="DEMO-PAY-1",
            reference="cash at the garage",
            created_by=finance,
        )
        partial, _ = drivers["5100101"]
        loans.record_driver_payment(
            driver_id=partial.pk,
            amount=Decimal("200.00"),
            received_on=last_week + timedelta(days=1),
            idempotency_key="DEMO-PAY-2",
            reference="bank transfer",
            created_by=finance,
        )
        _demo_staff_token(finance)


def _demo_staff_token(user) -> None:
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    Token.objects.create(user=user, key=DEMO_STAFF_TOKEN)


def load_demo_data(*, password: str | None = None) -> DemoSummary:
    password = password or secrets.token_urlsafe(12)
    User = get_user_model()
    with transaction.atomic():
        _ensure_staff(password)
        _ensure_reviewers()
    staff_usernames = [row[0] for row in STAFF]
    if Partner.objects.filter(code=DEMO_PARTNER_CODE).exists():
        return DemoSummary(created=False, password=password, api_key=DEMO_API_KEY, staff_usernames=staff_usernames)

    users = {user.username: user for user in User.objects.filter(username__in=staff_usernames)}
    with set_actor(users["admin"]):
        with transaction.atomic():
            partner = services.register_partner(
                name="Demo Lending Partner", code=DEMO_PARTNER_CODE, contact_email="api@demo-partner.example"
            )
            _demo_api_key(partner)
            other = services.register_partner(
                name="Second Partner", code="second-partner", contact_email="api@second.example"
            )
            applications = [
                _submit(partner if index % 4 else other, index, profile) for index, profile in enumerate(PROFILES)
            ]
            # Bank data in the same transaction, so the agents see it when they score on commit.
            seed_demo_finance(
                incomes=[(application.customer, application.annual_income) for application in applications],
                today=timezone.localdate(),
            )
        # Committed: the agents have scored every application (in-process tasks).
        with transaction.atomic():
            _walk_through_review(users)
            waiting = _submit(partner, len(PROFILES), ("Wanda Waiting", "5000", "65000", 710, 0, "20", "200"))
            # Held back so the demo shows an application that no worker has scored yet.
            OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED, aggregate_id=str(waiting.pk)).update(
                available_at=timezone.now() + timedelta(days=3650)
            )
        with transaction.atomic():
            approved = _first(ApplicationStatus.APPROVED, set())
            _seed_driver_loans(finance=users["fiona.finance"], application_to_book=approved)
    return DemoSummary(created=True, password=password, api_key=DEMO_API_KEY, staff_usernames=staff_usernames)
