"""Partners and their API keys."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from loanproject.core.errors import Conflict, DomainError
from loanproject.core.rules import constraint_name, refusals_as_field_errors, validate_fields, validated_save

from ..models import Partner, PartnerAPIKey

User = get_user_model()


@transaction.atomic
def register_partner(*, name: str, code: str, contact_email: str = "") -> Partner:
    """A partner and the service account that the audit log names for its API calls.

    Bad or taken values are a DomainError naming the fields (the partner is checked before its
    service account, whose username derives from the code, so errors speak of the partner).
    """
    partner = Partner(name=name, code=code, contact_email=contact_email)
    service_user = User(username=f"partner-{code}", email=contact_email, is_active=True)
    service_user.set_unusable_password()
    try:
        validate_fields(partner)
        validate_fields(service_user)
        with refusals_as_field_errors():
            service_user.save()
            partner.service_user = service_user
            partner.save()
    except ValidationError as exc:
        fields = exc.message_dict
        message = "; ".join(
            " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
            for field, messages in fields.items()
        )
        raise DomainError(message, fields=fields) from None
    except IntegrityError as exc:  # the code's service user exists, so does a partner with the code
        if constraint_name(exc) != "auth_user_username_key":
            raise
        raise Conflict(f"A partner with code {code!r} already exists.", code="partner_exists") from None
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
        validated_save(partner, update_fields=changed)
    return partner


@transaction.atomic
def issue_partner_api_key(*, partner: Partner, name: str) -> tuple[PartnerAPIKey, str]:
    """A new API key for the partner; the clear key is returned once and never stored."""
    if not partner.is_active:
        raise Conflict("An inactive partner cannot get API keys.", code="partner_inactive")
    key, secret = PartnerAPIKey.objects.create_key(name=name, partner=partner)
    # djangorestframework-api-key types the key as its abstract base; this manager makes ours.
    return cast(PartnerAPIKey, key), secret


@transaction.atomic
def revoke_partner_api_key(*, api_key_id: str) -> PartnerAPIKey:
    api_key = PartnerAPIKey.objects.select_for_update().get(pk=api_key_id)
    api_key.revoked = True
    api_key.save(update_fields=["revoked"])
    return api_key
