"""Partners and their API keys.

Invariants:
- `code` is unique and never changes: it names the partner's service user, the account the audit
  log records for the partner's API calls.
- API keys are stored hashed (djangorestframework-api-key); the clear key is shown once.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class Partner(models.Model):
    name = models.CharField(max_length=200, unique=True)
    code = models.SlugField(max_length=50, unique=True, help_text="Short stable identifier.")
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="partner",
        help_text="The account the audit log names for this partner's API calls.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerAPIKeyManager(APIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        return super().get_usable_keys().select_related("partner", "partner__service_user")


class PartnerAPIKey(AbstractAPIKey):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")

    objects: ClassVar[PartnerAPIKeyManager] = PartnerAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "partner API key"
        verbose_name_plural = "partner API keys"
