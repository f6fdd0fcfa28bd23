"""Every state change of partners, customers and applications.

Each function is atomic, takes keyword arguments, validates, changes state, writes outbox events
for the apps above this one, and returns the changed object. Doors (admin, API, tasks, commands)
call these and only present the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from loanproject.core.crypto import blind_index
from loanproject.core.errors import Conflict, StaleVersion
from loanproject.core.outbox import publish_event
from loanproject.core.sensitive import Sensitive

from .lifecycle import ApplicationStatus, ensure_transition
from .locks import lock_application, lock_customer
from .models import (
    PAN_CONTEXT,
    Customer,
    Decision,
    LoanApplication,
    Partner,
    PartnerAPIKey,
)
from .validators import normalize_pan, validate_pan

User = get_user_model()


# --- Inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerData:
    full_name: str
    email: str
    pan: str
    phone: str = ""
    address: str = ""
    external_ref: str = ""


@dataclass(frozen=True)
class ApplicationData:
    requested_amount: Decimal
    purpose: str
    annual_income: Decimal
    employment_status: str
    term_months: int = 36
    external_ref: str = ""
    employment_duration_months: int = 0
    existing_debts: Decimal = Decimal("0")
    monthly_debt_payments: Decimal = Decimal("0")
    credit_score: int | None = None
    total_payments: int = 0
    late_payments: int = 0
    utilization: Decimal = Decimal("0")
    credit_inquiries: int = 0
    credit_history_months: int = 0
    credit_mix: list[str] = field(default_factory=list)
    repayment_history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


# --- Partners ----------------------------------------------------------------------------------


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


# --- Customers ---------------------------------------------------------------------------------


def pan_blind_index(pan: str) -> str:
    return blind_index(normalize_pan(pan), context=PAN_CONTEXT)


def _clean_pan(pan: str | Sensitive) -> str:
    clear = normalize_pan(pan.reveal() if isinstance(pan, Sensitive) else pan)
    try:
        validate_pan(clear)
    except ValidationError as exc:
        raise ValidationError({"pan": exc.messages}) from None
    return clear


@transaction.atomic
def register_customer(*, partner: Partner | None, data: CustomerData) -> Customer:
    """Create the customer, or update the partner's customer with the same external_ref.

    A known external_ref with a different PAN is refused: it would silently merge two people.
    """
    pan = _clean_pan(data.pan)
    pan_hash = pan_blind_index(pan)
    if partner is not None and data.external_ref:
        existing = lock_customer(partner=partner, external_ref=data.external_ref)
        if existing is None:
            try:
                with transaction.atomic():
                    return _create_customer(partner=partner, data=data, pan=pan, pan_hash=pan_hash)
            except IntegrityError:
                # A concurrent request created the same customer first; update that one.
                existing = lock_customer(partner=partner, external_ref=data.external_ref)
                if existing is None:
                    raise
        if existing.pan_hash != pan_hash:
            raise Conflict(
                f"Customer {data.external_ref!r} is already registered with a different PAN.",
                code="customer_pan_mismatch",
            )
        return _update_contact_details(
            existing,
            full_name=data.full_name,
            email=data.email,
            phone=data.phone,
            address=data.address,
        )
    return _create_customer(partner=partner, data=data, pan=pan, pan_hash=pan_hash)


def _create_customer(*, partner: Partner | None, data: CustomerData, pan: str, pan_hash: str) -> Customer:
    customer = Customer(
        partner=partner,
        external_ref=data.external_ref,
        full_name=data.full_name,
        email=data.email,
        phone=data.phone,
        address=data.address,
        pan=Sensitive(pan),
        pan_hash=pan_hash,
    )
    customer.full_clean()
    customer.save()
    return customer


def _update_contact_details(customer: Customer, **details: str | None) -> Customer:
    changed = [name for name, value in details.items() if value is not None and getattr(customer, name) != value]
    if not changed:
        return customer
    for name in changed:
        setattr(customer, name, details[name])
    customer.full_clean()
    customer.save(update_fields=[*changed, "updated_at"])
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
    pan: str | None = None,
) -> Customer:
    """Change contact details and, when given, the PAN (re-encrypted and re-indexed).

    With `partner`, only that partner's customer can be changed (others are "not found").
    """
    customer = lock_customer(customer_id=customer_id, partner=partner, required=True)
    customer = _update_contact_details(
        customer, full_name=full_name, email=email, phone=phone, address=address
    )
    if pan is not None:
        clear = _clean_pan(pan)
        new_hash = pan_blind_index(clear)
        if new_hash != customer.pan_hash:
            customer.pan = Sensitive(clear)
            customer.pan_hash = new_hash
            customer.full_clean()
            customer.save(update_fields=["pan", "pan_hash", "updated_at"])
    return customer


# --- Applications ------------------------------------------------------------------------------


@transaction.atomic
def submit_application(
    *,
    partner: Partner | None,
    customer: CustomerData | Customer,
    application: ApplicationData,
) -> LoanApplication:
    """Store the customer (PAN encrypted) and the application, and announce it for scoring.

    `customer` is either the applicant's details (registered or updated by external_ref) or an
    existing customer of the same partner.
    """
    if isinstance(customer, Customer):
        if customer.partner_id != (partner.pk if partner else None):
            raise Conflict("The customer belongs to another partner.", code="customer_partner_mismatch")
    else:
        customer = register_customer(partner=partner, data=customer)
    if partner is not None and application.external_ref:
        existing = LoanApplication.objects.filter(
            partner=partner, external_ref=application.external_ref
        ).values_list("pk", flat=True).first()
        if existing:
            raise Conflict(
                f"Application {application.external_ref!r} was already submitted as {existing}.",
                code="application_exists",
            )
    loan_application = LoanApplication(partner=partner, customer=customer, **asdict(application))
    loan_application.full_clean()
    loan_application.save(force_insert=True)
    publish_event(
        topic="application.submitted",
        aggregate_type="applications.LoanApplication",
        aggregate_id=loan_application.pk,
        payload={"application_id": str(loan_application.pk), "partner_id": partner.pk if partner else None},
    )
    return loan_application


def _check_version(application: LoanApplication, expected_version: int | None) -> None:
    if expected_version is not None and application.version != expected_version:
        raise StaleVersion(
            f"The application changed since you read it (version {expected_version}, now "
            f"{application.version}); reload it and decide again.",
        )


def _move(application: LoanApplication, target: str, **changes) -> LoanApplication:
    ensure_transition(application.status, target)
    application.status = target
    for name, value in changes.items():
        setattr(application, name, value)
    application.version += 1
    application.full_clean()
    application.save()
    return application


def _announce_decision(application: LoanApplication) -> None:
    publish_event(
        topic="application.decided",
        aggregate_type="applications.LoanApplication",
        aggregate_id=application.pk,
        payload={
            "application_id": str(application.pk),
            "status": application.status,
            "decision": application.decision,
            "version": application.version,
        },
    )


@transaction.atomic
def start_scoring(*, application_id, expected_version: int | None = None) -> LoanApplication:
    """Mark the application as being scored (from submitted, or again for a re-score)."""
    application = lock_application(application_id)
    _check_version(application, expected_version)
    return _move(application, ApplicationStatus.SCORING)


@transaction.atomic
def apply_automated_decision(
    *,
    application_id,
    expected_version: int,
    decision: str,
    risk_level: str,
    approved_amount: Decimal | None = None,
    interest_rate: Decimal | None = None,
    reasons: list[Reason] | None = None,
    conditions: list[str] | None = None,
) -> LoanApplication:
    """Record the scoring outcome: pre-approved, manual review or rejected."""
    if decision not in {Decision.PRE_APPROVED, Decision.MANUAL_REVIEW, Decision.REJECTED}:
        raise ValidationError({"decision": ["Scoring can pre-approve, refer or reject only."]})
    if decision == Decision.REJECTED and not reasons:
        raise ValidationError({"reasons": ["A rejection must state its reasons."]})
    application = lock_application(application_id)
    _check_version(application, expected_version)
    now = timezone.now()
    _move(
        application,
        decision,
        decision=decision,
        risk_level=risk_level,
        approved_amount=approved_amount if decision == Decision.PRE_APPROVED else None,
        interest_rate=interest_rate,
        reasons=[asdict(reason) for reason in reasons or []],
        conditions=list(conditions or []),
        processed_at=now,
        decided_at=now,
    )
    _announce_decision(application)
    return application


@transaction.atomic
def decide_application(
    *,
    application_id,
    expected_version: int,
    approve: bool,
    actor: AbstractBaseUser,
    approved_amount: Decimal | None = None,
    interest_rate: Decimal | None = None,
    note: str = "",
    reasons: list[Reason] | None = None,
) -> LoanApplication:
    """A staff decision on a pre-approved or manual-review application."""
    application = lock_application(application_id)
    _check_version(application, expected_version)
    if approve:
        amount = approved_amount or application.approved_amount or application.requested_amount
        if amount > application.requested_amount:
            raise ValidationError({"approved_amount": ["Cannot approve more than was requested."]})
        changes = {"approved_amount": amount, "decision": Decision.APPROVED}
        if interest_rate is not None:
            changes["interest_rate"] = interest_rate
        target = ApplicationStatus.APPROVED
    else:
        if not reasons:
            raise ValidationError({"reasons": ["A rejection must state its reasons."]})
        changes = {
            "approved_amount": None,
            "decision": Decision.REJECTED,
            "reasons": [asdict(reason) for reason in reasons],
        }
        target = ApplicationStatus.REJECTED
    _move(
        application,
        target,
        decided_by=actor,
        decided_at=timezone.now(),
        decision_note=note,
        **changes,
    )
    _announce_decision(application)
    return application


@transaction.atomic
def withdraw_application(
    *, application_id, expected_version: int, reason: str = "", partner: Partner | None = None
) -> LoanApplication:
    """The customer no longer wants the loan. With `partner`, only its own applications."""
    application = lock_application(application_id, partner=partner)
    _check_version(application, expected_version)
    _move(application, ApplicationStatus.WITHDRAWN, decision_note=reason)
    publish_event(
        topic="application.withdrawn",
        aggregate_type="applications.LoanApplication",
        aggregate_id=application.pk,
        payload={"application_id": str(application.pk), "version": application.version},
    )
    return application


@transaction.atomic
def mark_application_booked(*, application_id, expected_version: int | None = None) -> LoanApplication:
    """An approved application became a loan (called by the loans app when it books one)."""
    application = lock_application(application_id)
    _check_version(application, expected_version)
    return _move(application, ApplicationStatus.BOOKED)
