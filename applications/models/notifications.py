"""Notifications to customers (SMS, e-mail, push), delivered by a backend with retries.

Invariants:
- One notification per (source event, channel, template) (`one_notification_per_event`): a
  redelivered outbox event can never notify a customer twice.
- A notification is pending until a backend accepts it (sent) or it runs out of attempts
  (failed); `next_attempt_at` backs off exponentially between attempts. Rendering the message is
  part of an attempt, so a broken template also ends failed rather than pending forever.
- Channels follow what the customer gave us: e-mail always, SMS only with a phone, push only with
  the device token of the customer's app (`Customer.push_token`). Without a recipient there is no
  notification row at all, never one that can only fail.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .applications import LoanApplication
from .customers import Customer


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"
    PUSH = "push", "Push"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications")
    application = models.ForeignKey(
        LoanApplication, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    template = models.CharField(max_length=60)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    source_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_event_id", "channel", "template"], name="one_notification_per_event"
            ),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="notification_sent_has_time",
            ),
            models.CheckConstraint(condition=Q(status__in=NotificationStatus.values), name="notification_status_known"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_due_idx", condition=Q(status="pending")),
            models.Index(fields=["customer", "-created_at"], name="notification_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.template} to {self.recipient}"
