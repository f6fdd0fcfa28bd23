"""Risk assessment: one score (0-90) from credit, affordability, employment and income.

The fraud checks' flags refer an application to a reviewer (M01) and never move this score: they
compare every partner's customers, and the risk level and its rate are shown to the partner, so a
flag that priced the loan would tell a partner what another partner knows."""

from __future__ import annotations

from decimal import Decimal

from .base import Agent
from .maths import HUNDRED, clamp, quantize

WEIGHTS = {
    "credit": Decimal("0.45"),
    "debt_to_income": Decimal("0.25"),
    "employment": Decimal("0.15"),
    "income": Decimal("0.05"),
}
EMPLOYMENT_RISK = {"employed": 20, "self_employed": 35, "retired": 40, "student": 70, "unemployed": 100}
SHORT_EMPLOYMENT_MONTHS = 12
INCOME_RISK = {"verified": 0, "unverified": 50, "mismatch": 100}
DTI_AT_FULL_RISK = Decimal(60)
LEVELS = [(Decimal(25), "low"), (Decimal(50), "medium"), (Decimal(75), "high")]


def level_of(score: Decimal) -> str:
    return next((level for ceiling, level in LEVELS if score < ceiling), "very_high")


class RiskAgent(Agent):
    name = "risk_assessment"
    version = "1.1"  # 1.1: fraud flags no longer add to the score
    requires = ("credit_scoring", "affordability", "income_verification")

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "credit_score": upstream["credit_scoring"]["score"],
            "back_end_dti": upstream["affordability"]["back_end_dti"],
            "employment_status": facts.employment_status,
            "employment_duration_months": facts.employment_duration_months,
            "income_status": upstream["income_verification"]["status"],
        }

    def decide(self, inputs: dict) -> dict:
        employment = EMPLOYMENT_RISK[inputs["employment_status"]]
        if inputs["employment_status"] in ("employed", "self_employed") and (
            inputs["employment_duration_months"] < SHORT_EMPLOYMENT_MONTHS
        ):
            employment += 20
        risks = {
            "credit": clamp(Decimal(900 - inputs["credit_score"]) / 600) * HUNDRED,
            "debt_to_income": clamp(Decimal(inputs["back_end_dti"]) / DTI_AT_FULL_RISK) * HUNDRED,
            "employment": Decimal(min(employment, 100)),
            "income": Decimal(INCOME_RISK[inputs["income_status"]]),
        }
        contributions = {name: quantize(risks[name] * WEIGHTS[name]) for name in WEIGHTS}
        score = quantize(sum(contributions.values(), Decimal(0)))
        factors = [
            {"factor": name, "points": points}
            for name, points in sorted(contributions.items(), key=lambda item: (-item[1], item[0]))
            if points >= 5
        ]
        return {"score": score, "level": level_of(score), "factors": factors, "contributions": contributions}
