"""Customers are told a loan was booked: the real `loan.booked` event, relayed to the real
consumer, becomes one notification per channel with the loan's number, amount and first due date."""

from datetime import date
from decimal import Decimal

import pytest

from applications.lifecycle import ApplicationStatus
from applications.models import Notification
from applications.tests.factories import CustomerFactory, LoanApplicationFactory, StaffUserFactory
from loanproject.core import topics
from loanproject.core.models import OutboxEvent
from loanproject.core.testing import deliver_outbox
from loans import services

from .factories import DriverFactory, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db


class Gateway:
    """The SMS, e-mail and push services (outside the system): records what it is asked to send."""

    sent: list = []

    def send(self, *, channel, recipient, subject, body):
        Gateway.sent.append((channel, recipient, subject, body))


@pytest.fixture(autouse=True)
def gateway(settings):
    settings.NOTIFICATION_BACKENDS = dict.fromkeys(
        ("sms", "email", "push"), "loans.tests.test_booking_notifications.Gateway"
    )
    Gateway.sent = []
    return Gateway


def customer():
    return CustomerFactory(
        full_name="Asha Patel", email="asha@example.com", phone="+12125550101", push_token="device-1"
    )


def test_booking_an_approved_application_tells_its_customer(django_capture_on_commit_callbacks):
    application = LoanApplicationFactory(
        customer=customer(),
        status=ApplicationStatus.APPROVED,
        approved_amount=Decimal("1200.00"),
        interest_rate=Decimal("12.00"),
        term_months=3,
    )
    lease = LeaseFactory()
    loan = services.book_application_as_loan(
        application_id=application.pk,
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        start_week=date(2026, 1, 25),
        created_by=StaffUserFactory(),
    )

    assert deliver_outbox(django_capture_on_commit_callbacks) == 1

    assert OutboxEvent.objects.get(topic=topics.LOAN_BOOKED).payload["customer_id"] == application.customer_id
    notifications = Notification.objects.order_by("channel")
    assert [(n.channel, n.template, n.status, n.customer_id) for n in notifications] == [
        ("email", "loan_booked", "sent", application.customer_id),
        ("push", "loan_booked", "sent", application.customer_id),
        ("sms", "loan_booked", "sent", application.customer_id),
    ]
    number = loan.loan_number
    assert sorted(Gateway.sent) == [
        (
            "email",
            "asha@example.com",
            f"Your loan {number} is booked",
            f"Dear Asha Patel,\n\nyour loan {number} of 1,200.00 is booked.\nThe first installment is due 2026-01-25.",
        ),
        (
            "push",
            "device-1",
            "Loan booked",
            f"Your loan {number} of 1,200.00 is booked. First installment due 2026-01-25.",
        ),
        ("sms", "+12125550101", "", f"Your loan {number} of 1,200.00 is booked. First installment due 2026-01-25."),
    ]


def test_a_loan_for_a_driver_linked_to_a_customer_tells_that_customer(django_capture_on_commit_callbacks):
    linked = customer()
    lease = LeaseFactory(driver=DriverFactory(customer=linked))

    loan = make_loan(principal="1500.00", weeks=10, lease=lease)
    deliver_outbox(django_capture_on_commit_callbacks)

    assert sorted((n.channel, n.customer_id, n.status) for n in Notification.objects.all()) == [
        ("email", linked.pk, "sent"),
        ("push", linked.pk, "sent"),
        ("sms", linked.pk, "sent"),
    ]
    assert (
        "sms",
        "+12125550101",
        "",
        f"Your loan {loan.loan_number} of 1,500.00 is booked. First installment due 2026-01-04.",
    ) in Gateway.sent


def test_a_driver_without_a_customer_record_is_not_told_and_the_log_says_so(django_capture_on_commit_callbacks, caplog):
    loan = make_loan(principal="1500.00", weeks=10)

    deliver_outbox(django_capture_on_commit_callbacks)

    assert (Notification.objects.count(), Gateway.sent) == (0, [])
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("applications")
    ]
    assert warnings == [
        f"loan.booked event {OutboxEvent.objects.get(topic='loan.booked').pk}: loan {loan.pk} has no customer "
        f"(driver {loan.driver_id} is not linked to one); nobody was notified"
    ]
