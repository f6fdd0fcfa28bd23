"""Notifications to customers: created from outbox events, delivered with retries."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loanproject.core.broker import send_task_soon
from loanproject.core.metrics import increment_after_commit
from loanproject.core.rules import validated_save
from loanproject.core.sensitive import mask_tail

from ..lifecycle import ApplicationStatus
from ..metrics import NOTIFICATIONS_DELIVERED
from ..models import Channel, Customer, LoanApplication, Notification, NotificationStatus
from ..notification_backends import backend_for
from ..notification_templates import render
from ..reasons import shown_to_partners

logger = logging.getLogger(__name__)

TEMPLATE_BY_STATUS: dict[str, str] = {
    ApplicationStatus.PRE_APPROVED: "application_pre_approved",
    ApplicationStatus.MANUAL_REVIEW: "application_manual_review",
    ApplicationStatus.APPROVED: "application_approved",
    ApplicationStatus.REJECTED: "application_rejected",
}


def _customer_channels(customer: Customer) -> list[tuple[str, str]]:
    """(channel, recipient) for every channel the customer can be reached on: e-mail always, SMS
    with a phone, push with their app's device token."""
    channels: list[tuple[str, str]] = [(Channel.EMAIL, customer.email)]
    if customer.phone:
        channels.append((Channel.SMS, customer.phone))
    if customer.push_token:
        channels.append((Channel.PUSH, customer.push_token))
    return channels


def _create(
    *,
    customer: Customer,
    template: str,
    payload: dict,
    event_id: int | None,
    application: LoanApplication | None = None,
) -> list[Notification]:
    created = []
    for channel, recipient in _customer_channels(customer):
        notification, is_new = Notification.objects.get_or_create(
            source_event_id=event_id,
            channel=channel,
            template=template,
            defaults={"recipient": recipient, "customer": customer, "application": application, "payload": payload},
        )
        if is_new:
            created.append(notification)
    if created:
        _deliver_after_commit([n.pk for n in created])
    return created


def _deliver_after_commit(notification_ids: list[int]) -> None:
    """Start each delivery once the transaction commits, without making the caller (a staff request
    retrying notifications) wait on the broker; a lost kick is sent by the due-notifications sweep."""
    from ..tasks import deliver_notification_task

    def send() -> None:
        for pk in notification_ids:
            send_task_soon(deliver_notification_task, args=[pk])

    transaction.on_commit(send, robust=True)


# What a decision message tells the customer, beyond its template: a message that would say the
# same as the last one they were sent about the application is not sent again.
TOLD_FIELDS = ("amount", "reasons")


@transaction.atomic
def notify_application_decided(*, event_id: int, application_id: UUID | str, status: str) -> list[Notification]:
    """Tell the customer about a decision, once per event, and only if it tells them something new.

    Under the application's row lock (two events of one application queue up), nothing is sent
    when the event is stale (the application has moved on; a later event tells what it became) or
    when the message would be the one they were last sent about it: the same template (decision),
    amount and stated reasons, as after a re-score that changed nothing for them. A notification
    that failed counts as told: staff retry it from the admin.
    """
    template = TEMPLATE_BY_STATUS.get(status)
    if template is None:
        return []
    application = (
        LoanApplication.objects.select_for_update(of=("self",)).select_related("customer").get(pk=application_id)
    )
    if application.status != status:
        return []
    customer = application.customer
    payload = {
        "reference": application.external_ref or str(application.pk)[:8],
        "full_name": customer.full_name,
        "first_name": customer.full_name.split()[0],
        "amount": f"{application.approved_amount or application.requested_amount:,.2f}",
        "reasons": "; ".join(reason["text"] for reason in shown_to_partners(application.reasons))
        or "see your statement",
    }
    last = (
        Notification.objects.filter(application=application, template__in=TEMPLATE_BY_STATUS.values())
        .order_by("-pk")
        .values_list("template", "payload")
        .first()
    )
    if last is not None and last[0] == template and all(last[1].get(key) == payload[key] for key in TOLD_FIELDS):
        return []
    return _create(customer=customer, template=template, payload=payload, event_id=event_id, application=application)


@transaction.atomic
def notify_loan_booked(
    *,
    event_id: int,
    loan_id: int,
    driver_id: int,
    customer_id: int | None,
    loan_number: str,
    principal: str,
    first_due: str,
) -> list[Notification]:
    """Tell the customer their loan is booked (once per event). A loan whose driver has no
    customer record reaches nobody, and the log says so."""
    if customer_id is None:
        logger.warning(
            "loan.booked event %s: loan %s has no customer (driver %s is not linked to one); nobody was notified",
            event_id,
            loan_id,
            driver_id,
        )
        return []
    customer = Customer.objects.get(pk=customer_id)
    message = {
        "full_name": customer.full_name,
        "first_name": customer.full_name.split()[0],
        "loan_reference": loan_number,
        "amount": f"{Decimal(principal):,.2f}",
        "first_due": first_due,
    }
    return _create(customer=customer, template="loan_booked", payload=message, event_id=event_id)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min ... capped at NOTIFICATION_MAX_BACKOFF_SECONDS."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), settings.NOTIFICATION_MAX_BACKOFF_SECONDS))


@transaction.atomic
def deliver_notification(*, notification_id: int, now: datetime | None = None) -> Notification:
    """Send a due, pending notification; on failure back off, and give up after the last attempt."""
    now = now or timezone.now()
    notification = Notification.objects.select_for_update(of=("self",)).get(pk=notification_id)
    if notification.status != NotificationStatus.PENDING or notification.next_attempt_at > now:
        return notification
    notification.attempts += 1
    try:
        # Rendering is part of the attempt: a broken template or payload fails and counts like a
        # refused delivery, so the notification ends failed instead of being retried forever.
        message = render(notification.template, notification.channel, notification.payload)
        backend_for(notification.channel).send(
            channel=notification.channel, recipient=notification.recipient, subject=message.subject, body=message.body
        )
    except Exception as exc:
        notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            notification.status = NotificationStatus.FAILED
        else:
            notification.next_attempt_at = now + backoff(notification.attempts)
        # The exception's text may name the recipient (an SMTP refusal does): it stays in
        # last_error for staff; the log names the notification and the kind of failure only.
        logger.warning(
            "notification %s attempt %s failed (%s); %s",
            notification.pk,
            notification.attempts,
            type(exc).__name__,
            "given up" if notification.status == NotificationStatus.FAILED else "retried later",
        )
        increment_after_commit(NOTIFICATIONS_DELIVERED, channel=notification.channel, outcome="failed")
    else:
        logger.info(
            "notification %s sent: %s %s to customer %s at %s",
            notification.pk,
            notification.channel,
            notification.template,
            notification.customer_id,
            mask_tail(notification.recipient),
        )
        increment_after_commit(NOTIFICATIONS_DELIVERED, channel=notification.channel, outcome="sent")
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.last_error = ""
    validated_save(notification)
    return notification


@transaction.atomic
def retry_notifications(*, notification_ids: Iterable[int]) -> list[Notification]:
    """Give failed notifications a new round of attempts (staff, from the admin)."""
    retried = list(
        Notification.objects.select_for_update(of=("self",))
        .filter(pk__in=list(notification_ids), status=NotificationStatus.FAILED)
        .order_by("pk")
    )
    for notification in retried:
        notification.status = NotificationStatus.PENDING
        notification.attempts = 0
        notification.next_attempt_at = timezone.now()
        notification.save(update_fields=["status", "attempts", "next_attempt_at"])
    if retried:
        _deliver_after_commit([n.pk for n in retried])
    return retried
