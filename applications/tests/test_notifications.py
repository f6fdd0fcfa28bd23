from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from applications import selectors, services
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, Notification, NotificationStatus
from applications.tasks import notify_application_decided_task
from loanproject.core import topics
from loanproject.core.models import OutboxEvent

from .factories import CustomerFactory, LoanApplicationFactory

pytestmark = pytest.mark.django_db


class FlakyGateway:
    """An SMS gateway that is down for the first `failures` calls (outside the system: faked)."""

    failures = 0
    sent: list = []

    def send(self, *, channel, recipient, subject, body):
        if FlakyGateway.failures > 0:
            FlakyGateway.failures -= 1
            raise ConnectionError("gateway timeout")
        FlakyGateway.sent.append((channel, recipient, body))


@pytest.fixture
def flaky_gateway(settings):
    settings.NOTIFICATION_BACKENDS = {
        "sms": "applications.tests.test_notifications.FlakyGateway",
        "email": "applications.notification_backends.EmailBackend",
        "push": "applications.notification_backends.LoggingBackend",
    }
    FlakyGateway.failures, FlakyGateway.sent = 0, []
    return FlakyGateway


def decided_event(application) -> OutboxEvent:
    return OutboxEvent.objects.create(
        topic=topics.APPLICATION_DECIDED,
        aggregate_type="applications.LoanApplication",
        aggregate_id=str(application.pk),
        payload={
            "application_id": str(application.pk),
            "status": application.status,
            "decision": application.status,
            "version": 2,
        },
    )


def approved_application(**customer):
    return LoanApplicationFactory(
        customer=CustomerFactory(full_name="Asha Patel", email="asha@example.com", phone="+1 212 555 0101", **customer),
        external_ref="APP-7",
        status=ApplicationStatus.APPROVED,
        approved_amount=Decimal("12500.00"),
    )


def test_a_decision_notifies_by_email_and_sms_once_per_event(flaky_gateway):
    application = approved_application()
    event = decided_event(application)

    first = notify_application_decided_task.apply(args=[event.pk]).get()
    again = notify_application_decided_task.apply(args=[event.pk]).get()

    assert (first, again) == (True, False)
    notifications = Notification.objects.order_by("channel")
    assert [(n.channel, n.recipient, n.template) for n in notifications] == [
        ("email", "asha@example.com", "application_approved"),
        ("sms", "+1 212 555 0101", "application_approved"),
    ]
    assert notifications[0].payload["amount"] == "12,500.00"


def test_the_database_refuses_a_second_notification_for_one_event():
    from django.db import IntegrityError, transaction

    application = approved_application()
    services.notify_application_decided(event_id=99, application_id=application.pk, status="approved")

    with pytest.raises(IntegrityError, match=r"one_notification_per_event|UNIQUE"), transaction.atomic():
        Notification.objects.create(
            channel="sms",
            recipient="x",
            customer=application.customer,
            template="application_approved",
            source_event_id=99,
        )


def test_delivery_retries_with_backoff_then_succeeds(flaky_gateway):
    application = approved_application()
    (sms,) = [
        n
        for n in services.notify_application_decided(event_id=1, application_id=application.pk, status="approved")
        if n.channel == "sms"
    ]
    flaky_gateway.failures = 2
    start = timezone.now()

    first = services.deliver_notification(notification_id=sms.pk, now=start)
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "ConnectionError: gateway timeout")
    assert first.next_attempt_at == start + timedelta(seconds=30)
    assert (
        services.deliver_notification(notification_id=sms.pk, now=start + timedelta(seconds=29)).attempts == 1
    )  # not due

    second = services.deliver_notification(notification_id=sms.pk, now=start + timedelta(seconds=30))
    assert (second.status, second.attempts, second.next_attempt_at) == ("pending", 2, start + timedelta(seconds=90))

    third = services.deliver_notification(notification_id=sms.pk, now=start + timedelta(seconds=90))
    assert (third.status, third.attempts, third.sent_at, third.last_error) == (
        "sent",
        3,
        start + timedelta(seconds=90),
        "",
    )
    assert flaky_gateway.sent == [("sms", "+1 212 555 0101", "Your loan application APP-7 is approved for 12,500.00.")]


def test_delivery_gives_up_after_the_last_attempt_and_staff_can_retry(flaky_gateway, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    application = approved_application()
    (sms,) = [
        n
        for n in services.notify_application_decided(event_id=1, application_id=application.pk, status="approved")
        if n.channel == "sms"
    ]
    flaky_gateway.failures = 5
    start = timezone.now()
    services.deliver_notification(notification_id=sms.pk, now=start)

    failed = services.deliver_notification(notification_id=sms.pk, now=start + timedelta(minutes=1))

    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 2)
    assert selectors.due_notification_ids(now=start + timedelta(days=1)) == [
        n.pk for n in Notification.objects.filter(channel="email")
    ]
    retried = services.retry_notifications(notification_ids=[sms.pk])
    assert [(n.status, n.attempts) for n in retried] == [("pending", 0)]


def test_the_email_backend_sends_through_django_mail(flaky_gateway):
    application = approved_application()
    (email,) = [
        n
        for n in services.notify_application_decided(event_id=1, application_id=application.pk, status="approved")
        if n.channel == "email"
    ]

    sent = services.deliver_notification(notification_id=email.pk)

    assert sent.status == "sent"
    assert [(m.to, m.subject) for m in mail.outbox] == [(["asha@example.com"], "Your application APP-7 is approved")]


def test_rejections_give_the_stated_reasons():
    application = LoanApplicationFactory(
        status=ApplicationStatus.REJECTED,
        external_ref="APP-9",
        reasons=[{"code": "R02", "text": "Debt-to-income ratio too high"}],
    )

    email, *_ = services.notify_application_decided(event_id=5, application_id=application.pk, status="rejected")

    assert email.payload["reasons"] == "Debt-to-income ratio too high"


class PushGateway:
    sent: list = []

    def send(self, *, channel, recipient, subject, body):
        PushGateway.sent.append((channel, recipient, subject, body))


def test_a_customer_with_an_app_is_also_notified_by_push(flaky_gateway, settings):
    settings.NOTIFICATION_BACKENDS = {
        **settings.NOTIFICATION_BACKENDS,
        "push": "applications.tests.test_notifications.PushGateway",
    }
    PushGateway.sent = []
    application = approved_application(push_token="device-token-1")

    created = services.notify_application_decided(event_id=3, application_id=application.pk, status="approved")
    (push,) = [n for n in created if n.channel == "push"]
    sent = services.deliver_notification(notification_id=push.pk)

    assert sorted((n.channel, n.recipient) for n in created) == [
        ("email", "asha@example.com"),
        ("push", "device-token-1"),
        ("sms", "+1 212 555 0101"),
    ]
    assert sent.status == NotificationStatus.SENT
    assert PushGateway.sent == [
        ("push", "device-token-1", "Application approved", "Your loan application APP-7 is approved for 12,500.00.")
    ]


def test_the_longest_push_token_a_customer_may_have_is_a_notification_recipient():
    longest = "t" * Customer._meta.get_field("push_token").max_length
    application = approved_application(push_token=longest)

    created = services.notify_application_decided(event_id=4, application_id=application.pk, status="approved")

    assert [n.recipient for n in created if n.channel == "push"] == [longest]


def test_every_template_has_a_text_for_every_channel():
    from applications.models import Channel
    from applications.notification_templates import TEMPLATES

    assert {name: sorted(texts) for name, texts in TEMPLATES.items()} == {
        name: sorted(Channel.values) for name in TEMPLATES
    }


def test_a_template_that_cannot_render_counts_attempts_and_ends_failed(settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    broken = Notification.objects.create(
        channel="email",
        recipient="asha@example.com",
        customer=CustomerFactory(),
        template="application_approved",
        payload={"reference": "APP-7"},  # no amount, no name
    )
    start = timezone.now()

    first = services.deliver_notification(notification_id=broken.pk, now=start)
    assert (first.status, first.attempts, first.last_error, first.next_attempt_at) == (
        NotificationStatus.PENDING,
        1,
        "KeyError: 'full_name'",
        start + timedelta(seconds=30),
    )

    last = services.deliver_notification(notification_id=broken.pk, now=start + timedelta(seconds=30))
    assert (last.status, last.attempts, last.sent_at) == (NotificationStatus.FAILED, 2, None)
    assert broken.pk not in selectors.due_notification_ids(now=start + timedelta(days=1))
    assert mail.outbox == []


def test_a_decision_is_told_again_only_when_what_the_customer_reads_changes():
    application = LoanApplicationFactory(status=ApplicationStatus.PRE_APPROVED, approved_amount=Decimal("12000.00"))
    first = services.notify_application_decided(event_id=21, application_id=application.pk, status="pre_approved")

    same = services.notify_application_decided(event_id=22, application_id=application.pk, status="pre_approved")
    LoanApplication.objects.filter(pk=application.pk).update(approved_amount=Decimal("9000.00"))
    lower = services.notify_application_decided(event_id=23, application_id=application.pk, status="pre_approved")

    assert (len(first), same, len(lower)) == (2, [], 2)
    assert [n.payload["amount"] for n in lower] == ["9,000.00", "9,000.00"]
    assert Notification.objects.count() == 4


def test_a_stale_decision_event_tells_nothing():
    """The application moved on (re-scored into review): its own later event tells that."""
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    assert services.notify_application_decided(event_id=31, application_id=application.pk, status="pre_approved") == []
    assert Notification.objects.count() == 0
