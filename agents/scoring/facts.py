"""Everything the agents need about a batch of applications, read with a few set-based queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TypedDict

from django.db.models import Count, Q
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from applications.lifecycle import OPEN_STATUSES
from applications.models import Customer, LoanApplication
from finance.selectors import estimated_monthly_incomes

VELOCITY_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class PolicyRules:
    """A snapshot of the active ScoringPolicy (the agents never read the database)."""

    version: int
    reject_below_credit_score: int
    pre_approve_from_credit_score: int
    max_back_end_dti: Decimal
    pre_approve_max_back_end_dti: Decimal
    reject_above_risk_score: Decimal
    pre_approve_max_risk_score: Decimal
    max_amount: Decimal
    pre_approve_max_amount: Decimal
    min_annual_income: Decimal
    income_tolerance_percent: Decimal
    rates: dict

    @classmethod
    def of(cls, policy) -> PolicyRules:
        return cls(
            version=policy.version,
            reject_below_credit_score=policy.reject_below_credit_score,
            pre_approve_from_credit_score=policy.pre_approve_from_credit_score,
            max_back_end_dti=policy.max_back_end_dti,
            pre_approve_max_back_end_dti=policy.pre_approve_max_back_end_dti,
            reject_above_risk_score=policy.reject_above_risk_score,
            pre_approve_max_risk_score=policy.pre_approve_max_risk_score,
            max_amount=policy.max_amount,
            pre_approve_max_amount=policy.pre_approve_max_amount,
            min_annual_income=policy.min_annual_income,
            income_tolerance_percent=policy.income_tolerance_percent,
            rates={
                "low": policy.rate_low,
                "medium": policy.rate_medium,
                "high": policy.rate_high,
                "very_high": policy.rate_very_high,
            },
        )


@dataclass(frozen=True)
class ApplicantFacts:
    application_id: str
    customer_id: int
    pan_hash: str
    requested_amount: Decimal
    term_months: int
    annual_income: Decimal
    employment_status: str
    employment_duration_months: int
    monthly_debt_payments: Decimal
    credit_score: int | None
    total_payments: int
    late_payments: int
    utilization: Decimal
    credit_inquiries: int
    credit_history_months: int
    credit_mix: tuple
    repayment_statuses: tuple
    other_open_applications_same_pan: int = 0
    other_pans_sharing_email: int = 0
    other_pans_sharing_phone: int = 0
    applications_same_pan_30d: int = 0
    verified_monthly_income: Decimal | None = None


def _customers_by_pan(pan_hashes: set[str]) -> dict[int, str]:
    """Every customer holding one of the PANs (an index scan), by customer id."""
    return dict(Customer.objects.filter(pan_hash__in=pan_hashes).order_by().values_list("pk", "pan_hash"))


def _counts_by_pan(pan_of_customer: dict[int, str]) -> dict[str, tuple[int, int]]:
    """Open and recent applications per PAN, looked up by customer (an index scan). One query
    joining customers instead makes the planner scan every customer, in parallel, once the table
    is mid-sized: each batch would pay for the whole table."""
    if not pan_of_customer:
        return {}
    since = timezone.now() - VELOCITY_WINDOW
    rows = (
        LoanApplication.objects.filter(customer_id__in=list(pan_of_customer))
        .order_by()
        .values("customer_id")
        .annotate(
            open_count=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
            recent_count=Count("pk", filter=Q(submitted_at__gte=since)),
        )
        .values_list("customer_id", "open_count", "recent_count")
    )
    counts: dict[str, tuple[int, int]] = {}
    for customer_id, open_count, recent_count in rows:
        pan = pan_of_customer[customer_id]
        open_before, recent_before = counts.get(pan, (0, 0))
        counts[pan] = (open_before + open_count, recent_before + recent_count)
    return counts


def _distinct_pans_by(field: str, values: set[str]) -> dict[str, int]:
    if not values:
        return {}
    rows = (
        Customer.objects.filter(**{f"{field}__in": values})
        .order_by()
        .values(field)
        .annotate(pans=Count("pan_hash", distinct=True))
    )
    return {row[field]: row["pans"] for row in rows}


class CustomerKeys(TypedDict):
    """The customer's duplicate-check keys, annotated on each application by the caller."""

    customer_pan_hash: str
    customer_email: str
    customer_phone: str


def load_facts(applications: list[WithAnnotations[LoanApplication, CustomerKeys]]) -> list[ApplicantFacts]:
    """Facts for each application, in the same order, in 5 queries. The applications carry their
    customer's duplicate-check keys as annotations (`CustomerKeys`), not a Customer object."""
    by_pan = _counts_by_pan(_customers_by_pan({a.customer_pan_hash for a in applications}))
    pans_by_email = _distinct_pans_by("email", {a.customer_email for a in applications})
    pans_by_phone = _distinct_pans_by("phone", {a.customer_phone for a in applications if a.customer_phone})
    # Monthly income seen in the customers' own bank transactions (absent: no bank data).
    incomes = estimated_monthly_incomes(customer_ids={a.customer_id for a in applications})
    facts = []
    for a in applications:
        open_count, recent_count = by_pan.get(a.customer_pan_hash, (0, 0))
        facts.append(
            ApplicantFacts(
                application_id=str(a.pk),
                customer_id=a.customer_id,
                pan_hash=a.customer_pan_hash,
                requested_amount=a.requested_amount,
                term_months=a.term_months,
                annual_income=a.annual_income,
                employment_status=a.employment_status,
                employment_duration_months=a.employment_duration_months,
                monthly_debt_payments=a.monthly_debt_payments,
                credit_score=a.credit_score,
                total_payments=a.total_payments,
                late_payments=a.late_payments,
                utilization=a.utilization,
                credit_inquiries=a.credit_inquiries,
                credit_history_months=a.credit_history_months,
                credit_mix=tuple(a.credit_mix),
                repayment_statuses=tuple(entry["status"] for entry in a.repayment_history),
                other_open_applications_same_pan=max(open_count - (1 if a.status in OPEN_STATUSES else 0), 0),
                other_pans_sharing_email=max(pans_by_email.get(a.customer_email, 1) - 1, 0),
                other_pans_sharing_phone=max(pans_by_phone.get(a.customer_phone, 1) - 1, 0) if a.customer_phone else 0,
                applications_same_pan_30d=recent_count,
                verified_monthly_income=incomes.get(a.customer_id),
            )
        )
    return facts
