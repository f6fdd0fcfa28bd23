"""Customers of partners (or of the back office itself).

Invariants:
- A customer belongs to one partner, or to none when staff entered it; `external_ref` is unique
  per partner (`customer_external_ref_unique_per_partner`).
- A PAN is never stored in clear: `pan` holds AES-256-GCM ciphertext under the key ring (the
  column refuses anything that is not a `gcm1:` token, `customer_pan_is_ciphertext`) and
  `pan_hash` a keyed HMAC blind index used for duplicate lookups (`customer_pan_hash_is_hmac`).
- `email` and `phone` are stored canonical (services normalise them: e-mail stripped and lower
  case, phone digits with an optional leading +), so duplicate checks compare like with like.
- `push_token` is the device token of the customer's app; blank means the customer gets no push
  notifications (there is nobody to push to).
- (`id`, `partner`) is unique (`customer_id_partner_key`): the target of the composite foreign key
  that keeps every application's partner equal to its customer's (see applications.py).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from django.db.models.lookups import StartsWith
from django.utils import timezone

from loanproject.core.fields import EncryptedTextField
from loanproject.core.indexes import trigram_index

from .partners import Partner

PAN_CONTEXT = "applications.customer.pan"


class Customer(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="customers")
    external_ref = models.CharField(max_length=100, blank=True, help_text="The partner's own id for this customer.")
    full_name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    address = models.TextField(blank=True)
    # At most what Notification.recipient holds: the token is that notification's recipient.
    push_token = models.CharField(
        max_length=254,
        blank=True,
        help_text="Device token of the customer's app for push notifications; blank: no push.",
    )
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
            models.CheckConstraint(condition=Q(pan_hash__regex=r"^[0-9a-f]{64}$"), name="customer_pan_hash_is_hmac"),
            # The encrypted field allows no lookups on its value; the cast reads the raw column.
            models.CheckConstraint(
                condition=Q(StartsWith(Cast("pan", output_field=models.TextField()), "gcm1:")),
                name="customer_pan_is_ciphertext",
            ),
            # Target of the composite foreign key application -> (customer, partner).
            models.UniqueConstraint(fields=["id", "partner"], name="customer_id_partner_key"),
        ]
        indexes = [
            models.Index(fields=["pan_hash"], name="customer_pan_hash_idx"),
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["partner", "-id"], name="customer_partner_idx"),
            # The partner API's cursor orderings (core/api/pagination.py), the id breaking ties.
            models.Index(fields=["partner", "created_at", "id"], name="customer_partner_created"),
            models.Index(fields=["partner", "full_name", "id"], name="customer_partner_name"),
            # The admin's list: its ordering (-created_at, -id), date hierarchy and deep pages.
            models.Index(fields=["created_at", "id"], name="customer_created_id_idx"),
            # The admin's searches (core.admin.search): a reference, a name.
            models.Index(fields=["external_ref"], name="customer_external_ref_idx", condition=~Q(external_ref="")),
            trigram_index("full_name", name="customer_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.full_name
