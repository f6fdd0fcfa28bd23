"""The decision under the active scoring policy, with stated reasons (adverse-action style)."""

from __future__ import annotations

from decimal import Decimal

from applications.lifecycle import Decision
from applications.reasons import reason

from .base import Agent
from .maths import HUNDRED, clamp, quantize


class DecisionAgent(Agent):
    name = "decision"
    version = "1.0"
    requires = ("credit_scoring", "affordability", "income_verification", "fraud_checks", "risk_assessment")

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "policy_version": rules.version,
            "requested_amount": facts.requested_amount,
            "annual_income": facts.annual_income,
            "credit_score": upstream["credit_scoring"]["score"],
            "back_end_dti": upstream["affordability"]["back_end_dti"],
            "max_affordable_amount": upstream["affordability"]["max_affordable_amount"],
            "income_status": upstream["income_verification"]["status"],
            "fraud_flags": upstream["fraud_checks"]["flags"],
            "risk_score": upstream["risk_assessment"]["score"],
            "risk_level": upstream["risk_assessment"]["level"],
            "reject_below_credit_score": rules.reject_below_credit_score,
            "pre_approve_from_credit_score": rules.pre_approve_from_credit_score,
            "max_back_end_dti": rules.max_back_end_dti,
            "pre_approve_max_back_end_dti": rules.pre_approve_max_back_end_dti,
            "reject_above_risk_score": rules.reject_above_risk_score,
            "pre_approve_max_risk_score": rules.pre_approve_max_risk_score,
            "max_amount": rules.max_amount,
            "pre_approve_max_amount": rules.pre_approve_max_amount,
            "min_annual_income": rules.min_annual_income,
            "rate": rules.rates[upstream["risk_assessment"]["level"]],
        }

    def decide(self, i: dict) -> dict:
        requested = Decimal(i["requested_amount"])
        risk = Decimal(i["risk_score"])
        probability = quantize(clamp((HUNDRED - risk) / HUNDRED), "0.0001")
        rejections = []
        if i["credit_score"] < i["reject_below_credit_score"]:
            rejections.append(reason("R01"))
        if Decimal(i["back_end_dti"]) > Decimal(i["max_back_end_dti"]):
            rejections.append(reason("R02"))
        if Decimal(i["annual_income"]) < Decimal(i["min_annual_income"]):
            rejections.append(reason("R03"))
        if risk > Decimal(i["reject_above_risk_score"]):
            rejections.append(reason("R04"))
        if requested > Decimal(i["max_amount"]):
            rejections.append(reason("R05"))
        if rejections:
            return {
                "decision": Decision.REJECTED,
                "reasons": rejections,
                "conditions": [],
                "approval_probability": probability,
                "recommended_amount": None,
                "recommended_rate": None,
            }

        recommended = min(requested, Decimal(i["max_affordable_amount"]), Decimal(i["pre_approve_max_amount"]))
        referrals, conditions = [], []
        if i["fraud_flags"]:
            referrals.append(reason("M01", flags=", ".join(i["fraud_flags"])))
        if i["income_status"] == "mismatch":
            referrals.append(reason("M02"))
        if requested > Decimal(i["pre_approve_max_amount"]):
            referrals.append(reason("M03"))
        if (
            i["credit_score"] < i["pre_approve_from_credit_score"]
            or Decimal(i["back_end_dti"]) > Decimal(i["pre_approve_max_back_end_dti"])
            or risk > Decimal(i["pre_approve_max_risk_score"])
        ):
            referrals.append(reason("M04"))
        if recommended <= 0:
            referrals.append(reason("M05"))
        decision = Decision.MANUAL_REVIEW if referrals else Decision.PRE_APPROVED
        if i["income_status"] == "unverified":
            conditions.append("Proof of income required")
        if decision == Decision.PRE_APPROVED and recommended < requested:
            conditions.append("Approved for a lower amount than requested")
        return {
            "decision": decision,
            "reasons": referrals,
            "conditions": conditions,
            "approval_probability": probability,
            "recommended_amount": recommended if recommended > 0 else None,
            "recommended_rate": Decimal(i["rate"]),
        }
