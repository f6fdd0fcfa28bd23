"""Income verification against the customer's own bank transactions."""

from __future__ import annotations

from decimal import Decimal

from loanproject.core.money import to_cents

from .base import Agent
from .maths import HUNDRED, TWELVE, quantize


class IncomeVerificationAgent(Agent):
    """Compares the declared monthly income with the income seen in the customer's transactions;
    flags a declared income above the seen one by more than the policy's tolerance."""

    name = "income_verification"
    version = "1.0"

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "declared_annual_income": facts.annual_income,
            "verified_monthly_income": facts.verified_monthly_income,
            "tolerance_percent": rules.income_tolerance_percent,
        }

    def decide(self, inputs: dict) -> dict:
        declared = to_cents(Decimal(inputs["declared_annual_income"]) / TWELVE)
        verified = inputs["verified_monthly_income"]
        if verified is None:
            return {
                "status": "unverified",
                "declared_monthly_income": declared,
                "verified_monthly_income": None,
                "declared_to_verified": None,
                "flagged": False,
            }
        verified = Decimal(verified)
        ceiling = verified * (1 + Decimal(inputs["tolerance_percent"]) / HUNDRED)
        flagged = declared > ceiling
        return {
            "status": "mismatch" if flagged else "verified",
            "declared_monthly_income": declared,
            "verified_monthly_income": verified,
            "declared_to_verified": quantize(declared / verified, "0.0001") if verified > 0 else None,
            "flagged": flagged,
        }
