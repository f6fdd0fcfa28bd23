"""Bureau score (supplied or simulated) and the credit scoring agent."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from .base import Agent
from .maths import HUNDRED, clamp

# Points each component adds to the 300 floor: 600 points in all, weighted like common bureau models.
COMPONENT_POINTS = {
    "payment_history": Decimal(210),
    "utilization": Decimal(180),
    "credit_age": Decimal(90),
    "inquiries": Decimal(60),
    "credit_mix": Decimal(60),
}
# Percentage points of payment history lost per bad month in the repayment history.
LATE_PENALTY = {"on_time": 0, "late_30": 2, "late_60": 5, "late_90": 10, "default": 25}
TIERS = [(800, "Excellent"), (740, "Very good"), (670, "Good"), (580, "Fair"), (300, "Poor")]
BUREAU_WEIGHT = Decimal("0.6")


def tier_of(score: int) -> str:
    return next(name for floor, name in TIERS if score >= floor)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


class BureauAgent(Agent):
    """The bureau score: as supplied, else simulated like a CIBIL pull (300-900).

    The simulation is deterministic in the PAN's keyed blind index, so the same applicant always
    gets the same score, and no clear PAN is involved.
    """

    name = "bureau"
    version = "1.0"

    def gather(self, facts, rules, upstream) -> dict:
        return {"supplied_score": facts.credit_score, "pan_fingerprint": facts.pan_hash[:12]}

    def decide(self, inputs: dict) -> dict:
        if inputs["supplied_score"] is not None:
            return {"score": inputs["supplied_score"], "source": "supplied"}
        return {"score": 300 + int(inputs["pan_fingerprint"], 16) % 601, "source": "simulated"}


class CreditScoringAgent(Agent):
    """Score from the bureau-like data: payment history, utilization, credit age, inquiries, mix;
    blended with the bureau score (60 % bureau, 40 % own model)."""

    name = "credit_scoring"
    version = "1.0"
    requires = ("bureau",)

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "bureau_score": upstream["bureau"]["score"],
            "total_payments": facts.total_payments,
            "late_payments": facts.late_payments,
            "repayment_statuses": list(facts.repayment_statuses),
            "utilization": facts.utilization,
            "credit_history_months": facts.credit_history_months,
            "credit_inquiries": facts.credit_inquiries,
            "credit_kinds": len(facts.credit_mix),
        }

    def decide(self, inputs: dict) -> dict:
        total, late = inputs["total_payments"], inputs["late_payments"]
        on_time = Decimal(total - late) / total if total else Decimal("0.5")
        penalty = Decimal(sum(LATE_PENALTY[status] for status in inputs["repayment_statuses"])) / HUNDRED
        factors = {
            "payment_history": clamp(on_time - penalty),
            "utilization": clamp(1 - Decimal(inputs["utilization"]) / HUNDRED),
            "credit_age": clamp(Decimal(inputs["credit_history_months"]) / 120),
            "inquiries": clamp(1 - Decimal(inputs["credit_inquiries"]) * Decimal("0.15")),
            "credit_mix": clamp(Decimal(inputs["credit_kinds"]) / 4),
        }
        breakdown = {name: _round(COMPONENT_POINTS[name] * factor) for name, factor in factors.items()}
        internal = 300 + sum(breakdown.values())
        score = _round(BUREAU_WEIGHT * inputs["bureau_score"] + (1 - BUREAU_WEIGHT) * internal)
        return {
            "score": score,
            "tier": tier_of(score),
            "internal_score": internal,
            "bureau_score": inputs["bureau_score"],
            "breakdown": breakdown,
        }
