"""Booking, booking from an application, cancelling, paying and closing driver loans."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from freezegun import freeze_time

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import CustomerFactory, LoanApplicationFactory, StaffUserFactory
from ledger import selectors as ledger_selectors
from ledger.models import Account, JournalEntry, OpenItemStatus
from loanproject.core import topics
from loanproject.core.errors import Conflict, DomainError, IllegalTransition
from loanproject.core.models import OutboxEvent
from loans import services
from loans.accounts import driver_party
from loans.models import DriverLoan, DriverStatus, Installment, InstallmentStatus, LoanStatus
from loans.schedules import Frequency, Method

from .conftest import week
from .factories import SUNDAY, DriverFactory, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db


def test_a_loan_is_booked_with_its_schedule_number_and_disbursement():
    officer = StaffUserFactory()

    with freeze_time("2026-01-02 12:00"):
        loan = make_loan(principal="1500.00", weeks=10, rate="10", created_by=officer)

    assert loan.loan_number == "DL-2026-0001"
    assert (loan.status, loan.created_by, loan.annual_interest_rate) == (LoanStatus.ACTIVE, officer, Decimal("10.000"))
    installments = list(loan.installments.order_by("sequence"))
    assert len(installments) == 10
    assert sum(i.principal for i in installments) == Decimal("1500.00")
    assert [(i.due_date, i.amount) for i in installments[:2]] == [
        (SUNDAY, Decimal("151.59")),
        (SUNDAY + timedelta(weeks=1), Decimal("151.59")),
    ]
    assert sorted(loan.disbursement_entry.postings.values_list("account__code", "debit", "credit")) == [
        ("1000", Decimal("0.00"), Decimal("1500.00")),
        ("1300", Decimal("1500.00"), Decimal("0.00")),
    ]
    assert loan.receivable_account.code == f"loans.driver:{loan.driver_id}:LOANS:USD"
    event = OutboxEvent.objects.get(topic=topics.LOAN_BOOKED)
    assert event.payload == {
        "loan_id": loan.pk,
        "loan_number": "DL-2026-0001",
        "driver_id": loan.driver_id,
        "customer_id": None,
        "principal": "1500.00",
        "first_due": "2026-01-04",
        "application_id": None,
    }


def test_loan_numbers_count_per_year():
    with freeze_time("2026-12-31 12:00"):
        numbers = [make_loan().loan_number for _ in range(2)]
    with freeze_time("2027-01-04 12:00"):
        numbers.append(make_loan(start=date(2027, 1, 3)).loan_number)

    assert numbers == ["DL-2026-0001", "DL-2026-0002", "DL-2027-0001"]


def test_the_loan_number_year_is_the_business_year_in_new_york():
    with freeze_time("2027-01-01 02:00"):  # still 31 December 2026, 21:00, in New York
        loan = make_loan()

    assert loan.loan_number == "DL-2026-0001"


def test_the_default_rate_comes_from_settings(settings):
    settings.LOANS_DEFAULT_INTEREST_RATE = "5.2"
    lease = LeaseFactory()

    loan = services.create_driver_loan(
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        principal=Decimal("1000.00"),
        start_week=SUNDAY,
        installment_count=4,
        purpose="x",
        created_by=StaffUserFactory(),
    )

    assert loan.annual_interest_rate == Decimal("5.200")
    assert loan.installments.get(sequence=1).interest == Decimal("1.00")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"start_week": date(2026, 1, 5)}, "start_week"),
        ({"annual_interest_rate": Decimal("20.01")}, "annual_interest_rate"),
        ({"annual_interest_rate": Decimal("-1")}, "annual_interest_rate"),
        ({"principal": Decimal("0")}, "principal"),
    ],
)
def test_bad_terms_are_refused_and_nothing_is_booked(changes, field):
    lease = LeaseFactory()
    terms = {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": Decimal("1000.00"),
        "start_week": SUNDAY,
        "installment_count": 4,
        "purpose": "x",
        "created_by": StaffUserFactory(),
        "annual_interest_rate": Decimal("5"),
    }

    with pytest.raises(ValidationError) as refused:
        services.create_driver_loan(**{**terms, **changes})

    assert field in refused.value.message_dict
    assert (DriverLoan.objects.count(), JournalEntry.objects.count(), Installment.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"start_week": date(9999, 12, 26)}, "start_week"),
        ({"start_week": date(1969, 12, 28)}, "start_week"),
        ({"disbursed_on": date(1, 1, 1)}, "disbursed_on"),
    ],
)
def test_dates_out_of_range_are_refused_and_nothing_is_booked(changes, field):
    lease = LeaseFactory()
    terms = {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": Decimal("1000.00"),
        "start_week": SUNDAY,
        "installment_count": 4,
        "purpose": "x",
        "created_by": StaffUserFactory(),
    }

    with pytest.raises(DomainError) as refused:
        services.create_driver_loan(**{**terms, **changes})

    assert (refused.value.code, list(refused.value.fields)) == ("date_out_of_range", [field])
    assert (DriverLoan.objects.count(), JournalEntry.objects.count(), Installment.objects.count()) == (0, 0, 0)


def test_a_lease_of_another_driver_or_a_suspended_driver_is_refused():
    lease = LeaseFactory()
    other = DriverFactory()
    suspended = LeaseFactory(driver=DriverFactory(status=DriverStatus.SUSPENDED))

    with pytest.raises(ValidationError, match="belongs to another driver"):
        services.create_driver_loan(
            driver_id=other.pk,
            lease_id=lease.pk,
            principal=Decimal("100"),
            start_week=SUNDAY,
            installment_count=2,
            purpose="x",
            created_by=StaffUserFactory(),
        )
    with pytest.raises(Conflict, match="suspended"):
        make_loan(lease=suspended)

    assert DriverLoan.objects.count() == 0


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"start_week": date(2026, 1, 6)}, "loan_starts_on_a_sunday"),
        ({"annual_interest_rate": Decimal("20.5")}, "loan_interest_rate_0_20"),
        ({"loan_number": "DL-26-1"}, "loan_number_format"),
        ({"installment_count": 0}, "loan_installment_count_1_520"),
        ({"status": "paused"}, "loan_status_known"),
    ],
)
def test_loan_constraints_hold_in_the_database(changes, constraint):
    loan = make_loan()

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        DriverLoan.objects.filter(pk=loan.pk).update(**changes)

    loan.refresh_from_db()
    assert (loan.start_week, loan.status) == (SUNDAY, LoanStatus.ACTIVE)


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"amount": Decimal("1.00")}, "installment_amount_is_principal_plus_interest"),
        ({"status": InstallmentStatus.POSTED}, "installment_posted_iff_entry"),
        ({"interest": Decimal("-1.00"), "amount": Decimal("249.00")}, "installment_interest_not_negative"),
    ],
)
def test_installment_constraints_hold_in_the_database(changes, constraint):
    installment = make_loan().installments.get(sequence=1)

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Installment.objects.filter(pk=installment.pk).update(**changes)


def test_two_loans_cannot_share_a_number():
    loan = make_loan()
    other = make_loan()

    with pytest.raises(IntegrityError, match="loan_number_unique"), transaction.atomic():
        DriverLoan.objects.filter(pk=other.pk).update(loan_number=loan.loan_number)


# --- Booking an approved application ---------------------------------------------------------


def approved_application(**fields):
    return LoanApplicationFactory(
        status=ApplicationStatus.APPROVED,
        approved_amount=Decimal("1200.00"),
        interest_rate=Decimal("12.00"),
        term_months=3,
        **fields,
    )


def test_an_approved_application_is_booked_as_a_monthly_loan():
    application = approved_application()
    lease = LeaseFactory()

    loan = services.book_application_as_loan(
        application_id=application.pk,
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        start_week=date(2026, 1, 25),
        created_by=StaffUserFactory(),
        method=Method.EQUAL_PRINCIPAL,
    )

    application.refresh_from_db()
    assert application.status == ApplicationStatus.BOOKED
    assert (loan.source_application, loan.principal, loan.annual_interest_rate, loan.frequency) == (
        application,
        Decimal("1200.00"),
        Decimal("12.000"),
        Frequency.MONTHLY,
    )
    assert [(i.due_date, i.principal, i.interest) for i in loan.installments.order_by("sequence")] == [
        (date(2026, 1, 25), Decimal("400.00"), Decimal("12.00")),
        (date(2026, 2, 25), Decimal("400.00"), Decimal("8.00")),
        (date(2026, 3, 25), Decimal("400.00"), Decimal("4.00")),
    ]
    loan.driver.refresh_from_db()
    assert loan.driver.customer == application.customer
    event = OutboxEvent.objects.get(topic=topics.LOAN_BOOKED)
    assert event.payload["application_id"] == str(application.pk)


@pytest.mark.parametrize(
    "status", [ApplicationStatus.MANUAL_REVIEW, ApplicationStatus.BOOKED, ApplicationStatus.REJECTED]
)
def test_only_an_approved_application_can_be_booked(status):
    application = approved_application()
    application.status = status
    application.save()
    lease = LeaseFactory()

    with pytest.raises(IllegalTransition):
        services.book_application_as_loan(
            application_id=application.pk,
            driver_id=lease.driver_id,
            lease_id=lease.pk,
            start_week=SUNDAY,
            created_by=StaffUserFactory(),
        )

    assert DriverLoan.objects.count() == 0


def test_an_application_rate_above_the_cap_needs_an_explicit_rate():
    application = approved_application()
    application.interest_rate = Decimal("24.00")
    application.save()
    lease = LeaseFactory()

    with pytest.raises(DomainError, match="above the 20 % cap"):
        services.book_application_as_loan(
            application_id=application.pk,
            driver_id=lease.driver_id,
            lease_id=lease.pk,
            start_week=SUNDAY,
            created_by=StaffUserFactory(),
        )
    loan = services.book_application_as_loan(
        application_id=application.pk,
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        start_week=SUNDAY,
        created_by=StaffUserFactory(),
        annual_interest_rate=Decimal("18"),
    )

    assert loan.annual_interest_rate == Decimal("18.000")


def test_a_driver_linked_to_another_customer_cannot_take_the_applicants_loan():
    application = approved_application()
    lease = LeaseFactory(driver=DriverFactory(customer=CustomerFactory()))

    with pytest.raises(Conflict, match="another customer"):
        services.book_application_as_loan(
            application_id=application.pk,
            driver_id=lease.driver_id,
            lease_id=lease.pk,
            start_week=SUNDAY,
            created_by=StaffUserFactory(),
        )

    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert DriverLoan.objects.count() == 0


# --- Cancelling ----------------------------------------------------------------------------------


def test_a_loan_is_cancelled_before_anything_is_posted():
    loan = make_loan(principal="500.00")

    services.cancel_loan(loan_id=loan.pk, reason="driver changed plans", actor=StaffUserFactory())

    loan.refresh_from_db()
    assert (loan.status, loan.closed_at is not None) == (LoanStatus.CANCELLED, True)
    assert set(loan.installments.values_list("status", flat=True)) == {InstallmentStatus.CANCELLED}
    assert JournalEntry.objects.get(reversal_of=loan.disbursement_entry).source == "ledger.reversal"
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == Decimal("0.00")


def test_cancelling_leaves_an_audit_entry_per_installment_with_the_actor():
    from auditlog.context import set_actor
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    loan = make_loan(principal="300.00", weeks=3)
    officer = StaffUserFactory()

    with set_actor(officer):
        services.cancel_loan(loan_id=loan.pk, reason="driver changed plans", actor=officer)

    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Installment)).order_by("object_id")
    assert [(e.object_id, e.action, e.changes, e.actor) for e in entries] == [
        (installment.pk, LogEntry.Action.UPDATE, {"status": ["scheduled", "cancelled"]}, officer)
        for installment in loan.installments.order_by("pk")
    ]


def test_a_loan_with_a_posted_installment_cannot_be_cancelled():
    loan = make_loan()
    services.post_weekly_installments(**week(SUNDAY))

    with pytest.raises(IllegalTransition, match="1 posted installment"):
        services.cancel_loan(loan_id=loan.pk, reason="too late", actor=StaffUserFactory())

    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE
    assert loan.installments.filter(status=InstallmentStatus.SCHEDULED).count() == 3
    assert not JournalEntry.objects.filter(reversal_of=loan.disbursement_entry).exists()


# --- Payments ----------------------------------------------------------------------------------


def pay(loan, amount: str, key: str, on: date = SUNDAY + timedelta(days=2)):
    return services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal(amount), received_on=on, idempotency_key=key
    )


def payment_state(loan) -> list[tuple[int, str, Decimal]]:
    from loans.selectors import installments_with_payments

    return [(i.sequence, i.payment_state, i.paid) for i in installments_with_payments().filter(loan=loan)]


def test_payments_pay_installments_oldest_first_and_close_the_loan_when_nothing_is_left():
    loan = make_loan(principal="300.00", weeks=3)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))

    first = pay(loan, "150.00", "bank-1")

    assert payment_state(loan) == [
        (1, "paid", Decimal("100.00")),
        (2, "partially_paid", Decimal("50.00")),
        (3, "unpaid", Decimal("0.00")),
    ]
    assert (first.closed_loans, first.payment.applied, first.payment.credit) == ([], Decimal("150.00"), Decimal("0.00"))

    last = pay(loan, "170.00", "bank-2")

    loan.refresh_from_db()
    assert payment_state(loan) == [
        (1, "paid", Decimal("100.00")),
        (2, "paid", Decimal("100.00")),
        (3, "paid", Decimal("100.00")),
    ]
    assert last.closed_loans == [loan]
    assert (loan.status, last.payment.credit) == (LoanStatus.CLOSED, Decimal("20.00"))
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("-20.00")


def test_a_loan_with_unposted_installments_stays_open_even_when_paid_up():
    loan = make_loan(principal="300.00", weeks=3)
    services.post_weekly_installments(**week(SUNDAY))

    result = pay(loan, "100.00", "bank-1")

    loan.refresh_from_db()
    assert (result.closed_loans, loan.status) == ([], LoanStatus.ACTIVE)


def test_the_same_payment_key_replays_and_pays_once():
    loan = make_loan(principal="300.00", weeks=3)
    services.post_weekly_installments(**week(SUNDAY))

    first = pay(loan, "60.00", "bank-1")
    again = pay(loan, "60.00", "bank-1")

    assert again.payment.replayed and again.payment.entry == first.payment.entry
    assert payment_state(loan)[0] == (1, "partially_paid", Decimal("60.00"))
    assert JournalEntry.objects.filter(source="ledger.payment").count() == 1


def test_a_payment_recorded_directly_in_the_ledger_closes_the_loan_through_the_outbox():
    from ledger import services as ledger_services
    from loanproject.core.outbox import relay_pending_events
    from loans.accounts import cash_account

    loan = make_loan(principal="100.00", weeks=1)
    services.post_weekly_installments(**week(SUNDAY))
    ledger_services.record_payment(
        party=driver_party(loan.driver_id),
        amount=Decimal("100.00"),
        received_on=SUNDAY,
        idempotency_key="lockbox-1",
        cash_account=cash_account(),
    )
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE

    relay_pending_events()  # what the relay does after commit; the subscriber runs eagerly in tests

    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED


def test_a_paid_installment_cannot_be_reversed():
    loan = make_loan(principal="300.00", weeks=3)
    services.post_weekly_installments(**week(SUNDAY))
    pay(loan, "10.00", "bank-1")
    installment = loan.installments.get(sequence=1)

    with pytest.raises(Conflict, match="reverse the payments first"):
        services.reverse_installment_posting(installment_id=installment.pk, reason="x", actor=StaffUserFactory())

    installment.refresh_from_db()
    assert installment.status == InstallmentStatus.POSTED
    assert installment.posted_entry.open_items.get().status == OpenItemStatus.OPEN
