"""How notifications leave the system. SMS gateways and push services are outside it, so they sit
behind this interface; the default backend logs the message (no external account needed)."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

from loanproject.core.sensitive import mask_tail

logger = logging.getLogger("applications.notifications")


class DeliveryFailed(Exception):
    """The backend could not deliver now; the notification is retried later."""


class NotificationBackend(Protocol):
    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None: ...


class LoggingBackend:
    """Stands in for an SMS gateway or push service (development, demo, no external account):
    sends nothing and logs that it would have. The text names the customer, so it is logged at
    DEBUG only (LOG_LEVEL=DEBUG on a development machine shows it); INFO carries the channel and
    the masked recipient, and the delivering service logs the notification's ids."""

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        logger.info("%s to %s: logged, not sent (logging backend)", channel.upper(), mask_tail(recipient))
        text = " ".join(part for part in (subject, body.replace("\n", " ")) if part)
        logger.debug("%s to %s: %s", channel.upper(), mask_tail(recipient), text)


class EmailBackend:
    """E-mail through Django's mail settings (EMAIL_HOST, ...)."""

    def send(self, *, channel: str, recipient: str, subject: str, body: str) -> None:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient], fail_silently=False)
        except Exception as exc:
            raise DeliveryFailed(f"mail server refused: {exc}") from exc


def backend_for(channel: str) -> NotificationBackend:
    return import_string(settings.NOTIFICATION_BACKENDS[channel])()
