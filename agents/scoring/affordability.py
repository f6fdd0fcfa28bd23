"""Affordability: debt-to-income with the payment of the requested loan."""

from __future__ import annotations

from decimal import Decimal

from loanproject.core.money import to_cents

from .base import Agent
from .maths import HUNDRED, TWELVE, annuity_payment, annuity_present_value, percent_of


class AffordabilityAgent(Agent):
    """Front-end DTI (new payment / income) and back-end DTI (all debt payments / income), both
    monthly and in percent; the payment is priced at the policy's medium-risk rate. Also the
    largest loan whose payment keeps the back-end DTI within the pre-approval limit."""

    name = "affordability"
    version = "1.0"

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "annual_income": facts.annual_income,
            "monthly_debt_payments": facts.monthly_debt_payments,
            "requested_amount": facts.requested_amount,
            "term_months": facts.term_months,
            "reference_rate": rules.rates["medium"],
            "pre_approve_max_back_end_dti": rules.pre_approve_max_back_end_dti,
        }

    def decide(self, inputs: dict) -> dict:
        income = to_cents(Decimal(inputs["annual_income"]) / TWELVE)
        debts = Decimal(inputs["monthly_debt_payments"])
        rate, months = Decimal(inputs["reference_rate"]), inputs["term_months"]
        payment = annuity_payment(Decimal(inputs["requested_amount"]), rate, months)
        room = to_cents(income * Decimal(inputs["pre_approve_max_back_end_dti"]) / HUNDRED - debts)
        return {
            "monthly_income": income,
            "requested_payment": payment,
            "front_end_dti": percent_of(payment, income),
            "back_end_dti": percent_of(payment + debts, income),
            "max_affordable_payment": max(room, Decimal("0.00")),
            "max_affordable_amount": annuity_present_value(room, rate, months),
        }
