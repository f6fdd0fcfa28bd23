"""Submission and the automated part of the lifecycle of an application."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from uuid import UUID

from django.db import IntegrityError, transaction

from loanproject.core import topics
from loanproject.core.errors import Conflict, StaleVersion
from loanproject.core.metrics import increment_after_commit
from loanproject.core.outbox import publish_event
from loanproject.core.rules import refusals_as_field_errors, validate_fields, validated_save
from loanproject.core.transactions import atomic_service

from ..lifecycle import ApplicationStatus, ensure_transition
from ..locks import lock_application, lock_applications
from ..metrics import APPLICATIONS_DECIDED, APPLICATIONS_SUBMITTED
from ..models import Customer, LoanApplication, Partner
from .customers import register_customer
from .inputs import ApplicationData, CustomerData


@atomic_service
def submit_application(
    *, partner: Partner | None, customer: CustomerData | Customer, application: ApplicationData
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
    loan_application = LoanApplication(partner=partner, customer=customer, **asdict(application))
    validate_fields(loan_application)
    try:
        with refusals_as_field_errors(savepoint=True):  # to look the taken ref up after
            loan_application.save(force_insert=True)
    except IntegrityError:
        # The ref is taken: a Conflict (409) naming the first submission, not bad input (400).
        _refuse_known_ref(partner, application.external_ref)
        raise
    increment_after_commit(APPLICATIONS_SUBMITTED, source="partner" if partner else "staff")
    publish_event(
        topic=topics.APPLICATION_SUBMITTED,
        aggregate_type="applications.LoanApplication",
        aggregate_id=loan_application.pk,
        payload={"application_id": str(loan_application.pk), "partner_id": partner.pk if partner else None},
    )
    return loan_application


def _refuse_known_ref(partner: Partner | None, external_ref: str) -> None:
    if partner is None or not external_ref:
        return
    existing = (
        LoanApplication.objects.filter(partner=partner, external_ref=external_ref).values_list("pk", flat=True).first()
    )
    if existing:
        raise Conflict(f"Application {external_ref!r} was already submitted as {existing}.", code="application_exists")


def _check_version(application: LoanApplication, expected_version: int | None) -> None:
    if expected_version is not None and application.version != expected_version:
        raise StaleVersion(
            f"The application changed since you read it (version {expected_version}, now "
            f"{application.version}); reload it and decide again."
        )


def _move(application: LoanApplication, target: str, **changes) -> LoanApplication:
    """Change status along the lifecycle (and other fields) as one new version."""
    ensure_transition(application.status, target)
    return _update(application, status=target, **changes)


def _update(application: LoanApplication, **changes) -> LoanApplication:
    for name, value in changes.items():
        setattr(application, name, value)
    application.version += 1
    validated_save(application)
    return application


def decision_event(application: LoanApplication) -> dict:
    """The `application.decided` event (notifications subscribe to it)."""
    return {
        "topic": topics.APPLICATION_DECIDED,
        "aggregate_type": "applications.LoanApplication",
        "aggregate_id": application.pk,
        "payload": {
            "application_id": str(application.pk),
            "status": application.status,
            "decision": application.decision,
            "version": application.version,
        },
    }


def _announce_decision(application: LoanApplication) -> None:
    publish_event(**decision_event(application))
    increment_after_commit(APPLICATIONS_DECIDED, decision=application.decision, decided_by="reviewer")


RESCORABLE_STATUSES = (ApplicationStatus.PRE_APPROVED, ApplicationStatus.MANUAL_REVIEW)


@transaction.atomic
def request_rescoring(
    *, application_ids: Iterable[UUID | str], skip_pending_proposals: bool = False
) -> list[LoanApplication]:
    """Send pre-approved and manual-review applications back to scoring (staff asked for a
    re-score); any others are left alone. The caller queues their scoring after commit.

    Refused as a whole (Conflict `proposal_pending`, nothing changes) while any of them holds an
    approval proposed above a reviewer's limit: re-scoring would drop that decision unseen. Batch
    jobs pass `skip_pending_proposals=True` to leave those alone instead and re-score the rest.
    """
    ids = LoanApplication.objects.filter(pk__in=list(application_ids), status__in=RESCORABLE_STATUSES).values_list(
        "pk", flat=True
    )
    rescorable = [application for application in lock_applications(ids) if application.status in RESCORABLE_STATUSES]
    pending = [str(application.pk) for application in rescorable if application.proposed_amount is not None]
    if pending and not skip_pending_proposals:
        raise Conflict(
            f"{', '.join(pending)} await(s) confirmation of a proposed approval; confirm or reject it first.",
            code="proposal_pending",
        )
    return [
        _move(application, ApplicationStatus.SCORING, assigned_to=None, assigned_at=None)
        for application in rescorable
        if application.proposed_amount is None
    ]


@transaction.atomic
def withdraw_application(
    *, application_id: UUID | str, expected_version: int, reason: str = "", partner: Partner | None = None
) -> LoanApplication:
    """The customer no longer wants the loan. With `partner`, only its own applications."""
    application = lock_application(application_id, partner=partner)
    _check_version(application, expected_version)
    _move(application, ApplicationStatus.WITHDRAWN, decision_note=reason)
    publish_event(
        topic=topics.APPLICATION_WITHDRAWN,
        aggregate_type="applications.LoanApplication",
        aggregate_id=application.pk,
        payload={"application_id": str(application.pk), "version": application.version},
    )
    return application


@transaction.atomic
def mark_application_booked(*, application_id: UUID | str, expected_version: int | None = None) -> LoanApplication:
    """An approved application became a loan (called by the loans app when it books one)."""
    application = lock_application(application_id)
    _check_version(application, expected_version)
    return _move(application, ApplicationStatus.BOOKED)
