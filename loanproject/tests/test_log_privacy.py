"""Personal data stays out of INFO and WARNING logs: a customer's name, e-mail, phone, address and
the text of the messages they are sent never reach a log line, whatever the notification flow
(a decision, a booked loan, a refused delivery). Log lines name ids, channels and templates."""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import date
from decimal import Decimal

import pytest

from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, Notification
from applications.services import deliver_notification
from applications.tests.factories import LoanApplicationFactory, PartnerFactory, StaffUserFactory, issue_key
from applications.tests.payloads import application_payload
from loanproject.core.testing import deliver_outbox
from loans import services as loans
from loans.tests.factories import LeaseFactory

pytestmark = pytest.mark.django_db
PERSONAL = ["Asha", "Patel", "asha.patel@example.com", "2125550101", "212 555 0101", "Orchard", "device-token-7"]


class RefusingMailServer:
    """An e-mail gateway (outside the system) that refuses the recipient, as SMTP servers do: the
    exception names the address."""

    def send(self, *, channel, recipient, subject, body):
        raise smtplib.SMTPRecipientsRefused({recipient: (550, b"5.1.1 mailbox unavailable")})


def test_no_personal_data_reaches_an_info_or_warning_line(
    client, console, caplog, settings, scoring_policy, django_capture_on_commit_callbacks
):
    _, stream = console
    caplog.set_level(logging.INFO)  # what production writes, whatever LOG_LEVEL this run has
    body = application_payload(external_ref="APP-77", requested_amount="5000.00", credit_score=760)
    body["customer"].update(
        {
            "full_name": "Asha Patel",
            "email": "asha.patel@example.com",
            "phone": "+1 212 555 0101",
            "address": "12 Orchard Lane",
            "push_token": "device-token-7",
        }
    )
    partner = PartnerFactory()

    # A decision told on every channel through the logging backend (the default).
    submitted = client.post(
        "/api/v1/applications/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}",
    )
    deliver_outbox(django_capture_on_commit_callbacks)
    # A booked loan told the same way.
    customer = Customer.objects.get()
    approved = LoanApplicationFactory(
        customer=customer,
        status=ApplicationStatus.APPROVED,
        approved_amount=Decimal("1000.00"),
        interest_rate=Decimal("10.00"),
        term_months=2,
    )
    lease = LeaseFactory()
    loans.book_application_as_loan(
        application_id=approved.pk,
        driver_id=lease.driver_id,
        lease_id=lease.pk,
        start_week=date(2026, 1, 4),
        created_by=StaffUserFactory(),
    )
    deliver_outbox(django_capture_on_commit_callbacks)
    # A delivery the mail server refuses.
    settings.NOTIFICATION_BACKENDS = {
        **settings.NOTIFICATION_BACKENDS,
        "email": "loanproject.tests.test_log_privacy.RefusingMailServer",
    }
    first_email = Notification.objects.filter(channel="email").earliest("pk")
    Notification.objects.filter(pk=first_email.pk).update(status="pending", attempts=0, sent_at=None)

    refused = deliver_notification(notification_id=first_email.pk)

    written = stream.getvalue()
    assert submitted.status_code == 202
    assert LoanApplication.objects.get(pk=submitted.json()["id"]).status == ApplicationStatus.PRE_APPROVED
    assert sorted(Notification.objects.values_list("template", "channel")) == [
        ("application_pre_approved", "email"),
        ("application_pre_approved", "push"),
        ("application_pre_approved", "sms"),
        ("loan_booked", "email"),
        ("loan_booked", "push"),
        ("loan_booked", "sms"),
    ]
    assert "asha.patel@example.com" in refused.last_error  # staff read the details in the admin
    assert [word for word in PERSONAL if word in written] == []
    # ... and the lines say what happened, by id.
    sent = Notification.objects.get(template="loan_booked", channel="sms")
    assert f"notification {sent.pk} sent: sms loan_booked to customer {customer.pk} at XXXXXXXX0101" in written
    assert f"notification {refused.pk} attempt 1 failed (SMTPRecipientsRefused); retried later" in written
