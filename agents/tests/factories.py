"""Builders for the agents' inputs: facts of one applicant and the default policy's rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.scoring.facts import ApplicantFacts, PolicyRules
from loanproject.core import topics

DEFAULT_RULES = PolicyRules(
    version=1,
    reject_below_credit_score=550,
    pre_approve_from_credit_score=680,
    max_back_end_dti=Decimal("50.00"),
    pre_approve_max_back_end_dti=Decimal("36.00"),
    reject_above_risk_score=Decimal("75.00"),
    pre_approve_max_risk_score=Decimal("40.00"),
    max_amount=Decimal("100000.00"),
    pre_approve_max_amount=Decimal("25000.00"),
    min_annual_income=Decimal("12000.00"),
    income_tolerance_percent=Decimal("20.00"),
    rates={"low": Decimal("7.50"), "medium": Decimal("12.00"), "high": Decimal("16.00"), "very_high": Decimal("22.00")},
)

BASE_FACTS = ApplicantFacts(
    application_id="00000000-0000-0000-0000-000000000001",
    customer_id=1,
    pan_hash="0" * 64,
    requested_amount=Decimal("12000.00"),
    term_months=24,
    annual_income=Decimal("60000.00"),
    employment_status="employed",
    employment_duration_months=30,
    monthly_debt_payments=Decimal("400.00"),
    credit_score=700,
    total_payments=100,
    late_payments=5,
    utilization=Decimal("30.00"),
    credit_inquiries=2,
    credit_history_months=60,
    credit_mix=("credit_card", "auto_loan", "mortgage"),
    repayment_statuses=("on_time", "late_30", "late_60"),
    verified_monthly_income=Decimal("4000.00"),
)


def facts(**changes) -> ApplicantFacts:
    return replace(BASE_FACTS, **changes)


def rules(**changes) -> PolicyRules:
    return replace(DEFAULT_RULES, **changes)


def strong_application(**extra):
    """Hand-checked with the default policy (medium rate 11 %): credit 0.6 x 760 + 0.4 x 882 = 809;
    payment 559.29 on 7,500.00 a month, back-end DTI (559.29 + 500) / 7,500 = 14.12 %; risk
    credit 6.83 + DTI 5.88 + employment 3.00 + unverified income 2.50 = 18.21 (low) -> pre-approved."""
    from applications.tests.factories import LoanApplicationFactory

    values = {
        "requested_amount": Decimal("12000.00"),
        "term_months": 24,
        "annual_income": Decimal("90000.00"),
        "monthly_debt_payments": Decimal("500.00"),
        "credit_score": 760,
        "total_payments": 120,
        "late_payments": 0,
        "repayment_history": [{"month": "2026-01", "status": "on_time"}],
        "utilization": Decimal("10.00"),
        "credit_inquiries": 0,
        "credit_history_months": 120,
        "credit_mix": ["credit_card", "auto_loan", "mortgage", "student_loan"],
        "employment_status": "employed",
        "employment_duration_months": 60,
    }
    values.update(extra)
    return LoanApplicationFactory(**values)


def submitted_event(application):
    """The `application.submitted` event as the submit service writes it, left unpublished (no
    relay kick): the test delivers it to the consumer itself."""
    from loanproject.core.models import OutboxEvent

    return OutboxEvent.objects.create(
        topic=topics.APPLICATION_SUBMITTED,
        aggregate_type="applications.LoanApplication",
        aggregate_id=str(application.pk),
        payload={"application_id": str(application.pk), "partner_id": application.partner_id},
    )
