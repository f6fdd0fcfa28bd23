"""Partners and their API keys."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from loanproject.core.errors import Conflict

from ..models import Partner, PartnerAPIKey

User = get_user_model()


@transaction.atomic
def register_partner(*, name: str, code: str, contact_email: str = "") -> Partner:
    """A partner and the service account that the audit log names for its API calls."""
    if Partner.objects.filter(code=code).exists():
        raise Conflict(f"A partner with code {code!r} already exists.", code="partner_exists")
    service_user = User(username=f"partner-{code}", email=contact_email, is_active=True)
    service_user.set_unusable_password()
    service_user.full_clean()
    service_user.save()
    partner = Partner(name=name, code=code, contact_email=contact_email, service_user=service_user)
    partner.full_clean()
    partner.save()
    return partner


@transaction.atomic
def update_partner(*, partner_id: int, name: str, contact_email: str, is_active: bool) -> Partner:
    """Rename, change the contact or (de)activate; an inactive partner's keys stop working."""
    partner = Partner.objects.select_for_update().get(pk=partner_id)
    new_values = {"name": name, "contact_email": contact_email, "is_active": is_active}
    changed = [field for field, value in new_values.items() if getattr(partner, field) != value]
    for field in changed:
        setattr(partner, field, new_values[field])
    if changed:
        partner.full_clean()
        partner.save(update_fields=changed)
    return partner


@transaction.atomic
def issue_partner_api_key(*, partner: Partner, name: str) -> tuple[PartnerAPIKey, str]:
    """A new API key for the partner; the clear key is returned once and never stored."""
    if not partner.is_active:
        raise Conflict("An inactive partner cannot get API keys.", code="partner_inactive")
    return PartnerAPIKey.objects.create_key(name=name, partner=partner)


@transaction.atomic
def revoke_partner_api_key(*, api_key_id: str) -> PartnerAPIKey:
    api_key = PartnerAPIKey.objects.select_for_update().get(pk=api_key_id)
    api_key.revoked = True
    api_key.save(update_fields=["revoked"])
    return api_key
