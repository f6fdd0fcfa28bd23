"""Customers: registration by external ref, contact details, PAN changes.

E-mail and phone are stored normalised (validators.normalize_email / normalize_phone): the fraud
checks compare them between customers, and "Asha@Example.com" must match "asha@example.com".
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from loanproject.core.crypto import blind_index
from loanproject.core.errors import Conflict
from loanproject.core.rules import refusals_as_field_errors, validate_fields, validated_save
from loanproject.core.sensitive import Sensitive
from loanproject.core.transactions import atomic_service

from ..locks import lock_customer
from ..models import PAN_CONTEXT, Customer, Partner
from ..validators import normalize_email, normalize_pan, normalize_phone, validate_pan, validate_phone
from .inputs import CustomerData


def pan_blind_index(pan: str) -> str:
    return blind_index(normalize_pan(pan), context=PAN_CONTEXT)


def _clean_pan(pan: str | Sensitive) -> str:
    clear = normalize_pan(pan.reveal() if isinstance(pan, Sensitive) else pan)
    try:
        validate_pan(clear)
    except ValidationError as exc:
        raise ValidationError({"pan": exc.messages}) from None
    return clear


def _clean_contact(**details: str | None) -> dict[str, str | None]:
    """The contact details as stored; None (not given) stays None."""
    email, phone = details.get("email"), details.get("phone")
    if email is not None:
        details["email"] = normalize_email(email)
    if phone is not None:
        details["phone"] = phone = normalize_phone(phone)
        try:
            validate_phone(phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from None
    return details


@atomic_service
def register_customer(*, partner: Partner | None, data: CustomerData) -> Customer:
    """Create the customer, or update the partner's customer with the same external_ref.

    A known external_ref with a different PAN is refused: it would silently merge two people.
    """
    pan = _clean_pan(data.pan)
    pan_hash = pan_blind_index(pan)
    contact = _clean_contact(
        full_name=data.full_name, email=data.email, phone=data.phone, address=data.address, push_token=data.push_token
    )
    if partner is not None and data.external_ref:
        existing = lock_customer(partner=partner, external_ref=data.external_ref)
        if existing is None:
            try:
                return _create_customer(
                    partner=partner, external_ref=data.external_ref, contact=contact, pan=pan, pan_hash=pan_hash
                )
            except IntegrityError:
                # A concurrent request created the same customer first (our insert is rolled
                # back to its savepoint): update that one.
                existing = lock_customer(partner=partner, external_ref=data.external_ref)
                if existing is None:
                    raise
        if existing.pan_hash != pan_hash:
            raise Conflict(
                f"Customer {data.external_ref!r} is already registered with a different PAN.",
                code="customer_pan_mismatch",
            )
        return _update_contact_details(existing, **contact)
    return _create_customer(
        partner=partner, external_ref=data.external_ref, contact=contact, pan=pan, pan_hash=pan_hash
    )


def _create_customer(
    *, partner: Partner | None, external_ref: str, contact: dict[str, str | None], pan: str, pan_hash: str
) -> Customer:
    given = {name: value for name, value in contact.items() if value is not None}
    customer = Customer(partner=partner, external_ref=external_ref, pan=Sensitive(pan), pan_hash=pan_hash, **given)
    validate_fields(customer)
    with refusals_as_field_errors(savepoint=True):  # register_customer goes on after a lost race
        customer.save()
    return customer


def _update_contact_details(customer: Customer, **details: str | None) -> Customer:
    changed = [name for name, value in details.items() if value is not None and getattr(customer, name) != value]
    if not changed:
        return customer
    for name in changed:
        setattr(customer, name, details[name])
    validated_save(customer, update_fields=[*changed, "updated_at"])
    return customer


@transaction.atomic
def update_customer(
    *,
    customer_id: int,
    partner: Partner | None = None,
    full_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    push_token: str | None = None,
    pan: str | None = None,
) -> Customer:
    """Change contact details (None: unchanged) and, when given, the PAN (re-encrypted and re-indexed).

    With `partner`, only that partner's customer can be changed (others are "not found").
    """
    customer = lock_customer(customer_id=customer_id, partner=partner, required=True)
    assert customer is not None  # required: NotFound otherwise
    customer = _update_contact_details(
        customer,
        **_clean_contact(full_name=full_name, email=email, phone=phone, address=address, push_token=push_token),
    )
    if pan is not None:
        clear = _clean_pan(pan)
        new_hash = pan_blind_index(clear)
        if new_hash != customer.pan_hash:
            customer.pan = Sensitive(clear)
            customer.pan_hash = new_hash
            validated_save(customer, update_fields=["pan", "pan_hash", "updated_at"])
    return customer
