"""Customers of partners (or of the back office itself).

Invariants:
- A customer belongs to one partner, or to none when staff entered it; `external_ref` is unique
  per partner (`customer_external_ref_unique_per_partner`).
- A PAN is never stored in clear: `pan` holds AES-256-GCM ciphertext under the key ring and
  `pan_hash` a keyed HMAC blind index used for duplicate lookups (`customer_pan_hash_is_hmac`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from loanproject.core.fields import EncryptedTextField

from .partners import Partner

PAN_CONTEXT = "applications.customer.pan"


class Customer(models.Model):
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="customers"
    )
    external_ref = models.CharField(
        max_length=100, blank=True, help_text="The partner's own id for this customer."
    )
    full_name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True)
    pan = EncryptedTextField(context=PAN_CONTEXT, verbose_name="PAN")
    pan_hash = models.CharField(max_length=64, editable=False, verbose_name="PAN blind index")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_ref"],
                condition=~Q(external_ref=""),
                name="customer_external_ref_unique_per_partner",
            ),
            models.CheckConstraint(
                condition=Q(pan_hash__regex=r"^[0-9a-f]{64}$"), name="customer_pan_hash_is_hmac"
            ),
        ]
        indexes = [
            models.Index(fields=["pan_hash"], name="customer_pan_hash_idx"),
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["partner", "-id"], name="customer_partner_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name
