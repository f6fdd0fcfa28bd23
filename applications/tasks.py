"""Celery tasks of the applications app: outbox consumers, notification delivery, review assignment."""

from __future__ import annotations

from celery import shared_task

from loanproject.core.audit import acting_as_system
from loanproject.core.consumers import outbox_consumer
from loanproject.core.models import OutboxEvent

from . import selectors, services


@outbox_consumer("applications.notify_application_decided")
def notify_application_decided_task(event: OutboxEvent) -> None:
    services.notify_application_decided(
        event_id=event.pk, application_id=event.payload["application_id"], status=event.payload["status"]
    )


@outbox_consumer("applications.notify_loan_booked")
def notify_loan_booked_task(event: OutboxEvent) -> None:
    payload = event.payload
    services.notify_loan_booked(
        event_id=event.pk,
        loan_id=payload["loan_id"],
        driver_id=payload["driver_id"],
        customer_id=payload.get("customer_id"),  # absent from events written before it was sent
        loan_number=payload["loan_number"],
        principal=payload["principal"],
        first_due=payload.get("first_due", ""),
    )


@shared_task(name="applications.deliver_notification")
def deliver_notification_task(notification_id: int) -> str:
    with acting_as_system():
        return services.deliver_notification(notification_id=notification_id).status


@shared_task(name="applications.deliver_due_notifications")
def deliver_due_notifications_task() -> int:
    """Retry notifications whose backoff has passed (beat, every minute)."""
    ids = selectors.due_notification_ids()
    for notification_id in ids:
        deliver_notification_task.delay(notification_id)
    return len(ids)


@shared_task(name="applications.assign_waiting_applications")
def assign_waiting_applications_task() -> int:
    """Give waiting manual reviews to officers with room (beat; room also appears when staff raise
    a capacity, add an officer, or an assigned application is withdrawn or re-scored)."""
    with acting_as_system():
        return services.assign_waiting_applications()
