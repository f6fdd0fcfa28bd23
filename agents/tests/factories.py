"""Builders for the agents' inputs: facts of one applicant and the default policy's rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.scoring.facts import ApplicantFacts, PolicyRules

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
