"""Every agent with exact outputs. The worked example (hand-checked):

credit: payment history 0.95 on time - 7 points of late months = 0.88 x 210 = 185; utilization
0.70 x 180 = 126; credit age 60/120 x 90 = 45; inquiries (1 - 2 x 0.15) x 60 = 42; mix 3/4 x 60 = 45;
own score 300 + 443 = 743; blended 0.6 x 700 + 0.4 x 743 = 717.2 -> 717 (Good).
affordability: 12,000 over 24 months at 12 % = 564.88 a month on 5,000.00 income: front-end 11.30 %,
back-end (564.88 + 400) / 5,000 = 19.30 %; room 5,000 x 36 % - 400 = 1,400.00 a month, which repays
29,740.74 over 24 months.
"""

from decimal import Decimal

import pytest

from agents.scoring.affordability import AffordabilityAgent
from agents.scoring.credit import BureauAgent, CreditScoringAgent
from agents.scoring.decision import DecisionAgent
from agents.scoring.fraud import FraudAgent
from agents.scoring.income import IncomeVerificationAgent
from agents.scoring.pipeline import run_pipeline
from agents.scoring.risk import RiskAgent

from .factories import DEFAULT_RULES, facts

D = Decimal


def outputs_for(applicant=None) -> dict:
    return run_pipeline(applicant or facts(), DEFAULT_RULES).outputs


class TestBureau:
    def test_a_supplied_score_is_used_as_is(self):
        assert BureauAgent().run(facts(credit_score=612), DEFAULT_RULES, {})[1] == {"score": 612, "source": "supplied"}

    @pytest.mark.parametrize(
        "fingerprint, score",
        [("000000000000", 300), ("0000000001f4", 800), ("000000000259", 300), ("ffffffffffff", 750)],
    )
    def test_the_simulated_score_is_deterministic_in_the_pan_blind_index(self, fingerprint, score):
        applicant = facts(credit_score=None, pan_hash=fingerprint + "a" * 52)

        inputs, output = BureauAgent().run(applicant, DEFAULT_RULES, {})

        assert inputs == {"supplied_score": None, "pan_fingerprint": fingerprint}
        assert output == {"score": score, "source": "simulated"}


class TestCreditScoring:
    def test_worked_example(self):
        _, output = CreditScoringAgent().run(facts(), DEFAULT_RULES, {"bureau": {"score": 700}})

        assert output == {
            "score": 717,
            "tier": "Good",
            "internal_score": 743,
            "bureau_score": 700,
            "breakdown": {
                "payment_history": 185,
                "utilization": 126,
                "credit_age": 45,
                "inquiries": 42,
                "credit_mix": 45,
            },
        }

    def test_a_thin_file_is_neutral_on_payments_and_zero_elsewhere(self):
        thin = facts(
            total_payments=0,
            late_payments=0,
            repayment_statuses=(),
            utilization=D("100"),
            credit_history_months=0,
            credit_inquiries=10,
            credit_mix=(),
        )

        _, output = CreditScoringAgent().run(thin, DEFAULT_RULES, {"bureau": {"score": 300}})

        assert output["breakdown"] == {
            "payment_history": 105,
            "utilization": 0,
            "credit_age": 0,
            "inquiries": 0,
            "credit_mix": 0,
        }
        assert (output["internal_score"], output["score"], output["tier"]) == (405, 342, "Poor")

    @pytest.mark.parametrize(
        "score, tier",
        [
            (800, "Excellent"),
            (799, "Very good"),
            (740, "Very good"),
            (739, "Good"),
            (670, "Good"),
            (669, "Fair"),
            (580, "Fair"),
            (579, "Poor"),
        ],
    )
    def test_tiers(self, score, tier):
        from agents.scoring.credit import tier_of

        assert tier_of(score) == tier


class TestAffordability:
    def test_worked_example(self):
        _, output = AffordabilityAgent().run(facts(), DEFAULT_RULES, {})

        assert output == {
            "monthly_income": D("5000.00"),
            "requested_payment": D("564.88"),
            "front_end_dti": D("11.30"),
            "back_end_dti": D("19.30"),
            "max_affordable_payment": D("1400.00"),
            "max_affordable_amount": D("29740.74"),
        }

    def test_no_income_caps_the_ratios_and_affords_nothing(self):
        _, output = AffordabilityAgent().run(facts(annual_income=D("0")), DEFAULT_RULES, {})

        assert (output["front_end_dti"], output["back_end_dti"]) == (D("999.99"), D("999.99"))
        assert (output["max_affordable_payment"], output["max_affordable_amount"]) == (D("0.00"), D("0.00"))

    def test_zero_rate_divides_evenly(self):
        _, output = AffordabilityAgent().run(
            facts(),
            DEFAULT_RULES.__class__(**{**DEFAULT_RULES.__dict__, "rates": {**DEFAULT_RULES.rates, "medium": D("0")}}),
            {},
        )

        assert output["requested_payment"] == D("500.00")
        assert output["max_affordable_amount"] == D("33600.00")


class TestIncomeVerification:
    def test_declared_income_far_above_the_bank_data_is_flagged(self):
        _, output = IncomeVerificationAgent().run(facts(), DEFAULT_RULES, {})

        assert output == {
            "status": "mismatch",
            "declared_monthly_income": D("5000.00"),
            "verified_monthly_income": D("4000.00"),
            "declared_to_verified": D("1.2500"),
            "flagged": True,
        }

    def test_within_the_tolerance_is_verified(self):
        _, output = IncomeVerificationAgent().run(facts(verified_monthly_income=D("4166.67")), DEFAULT_RULES, {})

        assert (output["status"], output["flagged"], output["declared_to_verified"]) == ("verified", False, D("1.2000"))

    def test_without_bank_data_the_income_is_unverified(self):
        _, output = IncomeVerificationAgent().run(facts(verified_monthly_income=None), DEFAULT_RULES, {})

        assert output == {
            "status": "unverified",
            "declared_monthly_income": D("5000.00"),
            "verified_monthly_income": None,
            "declared_to_verified": None,
            "flagged": False,
        }


class TestFraud:
    def test_a_clean_applicant(self):
        assert FraudAgent().run(facts(), DEFAULT_RULES, {})[1] == {"flags": [], "fraud_score": 0, "duplicate": False}

    def test_every_flag(self):
        suspicious = facts(
            other_open_applications_same_pan=1,
            other_pans_sharing_email=2,
            other_pans_sharing_phone=1,
            applications_same_pan_30d=4,
        )

        _, output = FraudAgent().run(suspicious, DEFAULT_RULES, {})

        assert output == {
            "flags": ["duplicate_open_application", "email_shared", "phone_shared", "velocity"],
            "fraud_score": 100,
            "duplicate": True,
        }

    def test_three_applications_in_a_month_is_not_yet_velocity(self):
        assert FraudAgent().run(facts(applications_same_pan_30d=3), DEFAULT_RULES, {})[1]["flags"] == []


class TestRisk:
    def test_worked_example(self):
        upstream = outputs_for()

        _, output = RiskAgent().run(facts(), DEFAULT_RULES, upstream)

        assert output == {
            "score": D("29.76"),
            "level": "medium",
            "factors": [
                {"factor": "credit", "points": D("13.72")},
                {"factor": "debt_to_income", "points": D("8.04")},
                {"factor": "income", "points": D("5.00")},
            ],
            "contributions": {
                "credit": D("13.72"),
                "debt_to_income": D("8.04"),
                "employment": D("3.00"),
                "income": D("5.00"),
            },
        }

    @pytest.mark.parametrize(
        "score, level",
        [
            ("24.99", "low"),
            ("25.00", "medium"),
            ("49.99", "medium"),
            ("50.00", "high"),
            ("74.99", "high"),
            ("75.00", "very_high"),
        ],
    )
    def test_levels(self, score, level):
        from agents.scoring.risk import level_of

        assert level_of(D(score)) == level

    def test_short_employment_adds_risk(self):
        upstream = outputs_for()
        _, long_job = RiskAgent().run(facts(), DEFAULT_RULES, upstream)
        _, short_job = RiskAgent().run(facts(employment_duration_months=11), DEFAULT_RULES, upstream)

        assert short_job["contributions"]["employment"] - long_job["contributions"]["employment"] == D("3.00")

    def test_fraud_flags_refer_but_never_move_the_risk_or_the_rate(self):
        """The flags come from every partner's customers; the level and rate are shown to partners."""
        clean = outputs_for(facts(verified_monthly_income=None))
        flagged = outputs_for(
            facts(
                verified_monthly_income=None,
                other_open_applications_same_pan=1,
                other_pans_sharing_email=1,
                other_pans_sharing_phone=1,
                applications_same_pan_30d=5,
            )
        )

        assert flagged["fraud_checks"]["fraud_score"] == 100
        assert flagged["risk_assessment"] == clean["risk_assessment"]
        assert (flagged["decision"]["recommended_rate"], flagged["decision"]["approval_probability"]) == (
            clean["decision"]["recommended_rate"],
            clean["decision"]["approval_probability"],
        )
        assert (clean["decision"]["decision"], flagged["decision"]["decision"]) == ("pre_approved", "manual_review")
        assert [r["code"] for r in flagged["decision"]["reasons"]] == ["M01"]


class TestDecision:
    def test_worked_example_goes_to_review_for_the_income_mismatch(self):
        output = outputs_for()["decision"]

        assert output == {
            "decision": "manual_review",
            "reasons": [{"code": "M02", "text": "Declared income above the income seen in bank data"}],
            "conditions": [],
            "approval_probability": D("0.7024"),
            "recommended_amount": D("12000.00"),
            "recommended_rate": D("12.00"),
        }

    def test_a_clean_file_is_pre_approved_with_conditions_and_the_rate_of_its_risk(self):
        output = outputs_for(facts(verified_monthly_income=None))["decision"]

        assert (output["decision"], output["recommended_amount"], output["recommended_rate"]) == (
            "pre_approved",
            D("12000.00"),
            D("12.00"),
        )
        assert output["reasons"] == []
        assert output["conditions"] == ["Proof of income required"]

    def test_above_the_automatic_limit_a_reviewer_decides(self):
        output = outputs_for(
            facts(verified_monthly_income=None, requested_amount=D("30000.00"), annual_income=D("200000.00"))
        )["decision"]

        assert output["decision"] == "manual_review"
        assert output["reasons"] == [{"code": "M03", "text": "Amount above the automatic pre-approval limit"}]
        assert output["recommended_rate"] == D("7.50")  # low risk


BASE_DECISION = {
    "policy_version": 1,
    "requested_amount": D("10000.00"),
    "annual_income": D("60000.00"),
    "credit_score": 700,
    "back_end_dti": D("20.00"),
    "max_affordable_amount": D("30000.00"),
    "income_status": "verified",
    "fraud_flags": [],
    "risk_score": D("20.00"),
    "risk_level": "low",
    "reject_below_credit_score": 550,
    "pre_approve_from_credit_score": 680,
    "max_back_end_dti": D("50.00"),
    "pre_approve_max_back_end_dti": D("36.00"),
    "reject_above_risk_score": D("75.00"),
    "pre_approve_max_risk_score": D("40.00"),
    "max_amount": D("100000.00"),
    "pre_approve_max_amount": D("25000.00"),
    "min_annual_income": D("12000.00"),
    "rate": D("7.50"),
}


@pytest.mark.parametrize(
    "change, decision, codes",
    [
        ({}, "pre_approved", []),
        ({"credit_score": 680}, "pre_approved", []),
        ({"credit_score": 679}, "manual_review", ["M04"]),
        ({"credit_score": 550}, "manual_review", ["M04"]),
        ({"credit_score": 549}, "rejected", ["R01"]),
        ({"back_end_dti": D("36.00")}, "pre_approved", []),
        ({"back_end_dti": D("36.01")}, "manual_review", ["M04"]),
        ({"back_end_dti": D("50.00")}, "manual_review", ["M04"]),
        ({"back_end_dti": D("50.01")}, "rejected", ["R02"]),
        ({"risk_score": D("40.00")}, "pre_approved", []),
        ({"risk_score": D("40.01")}, "manual_review", ["M04"]),
        ({"risk_score": D("75.00")}, "manual_review", ["M04"]),
        ({"risk_score": D("75.01")}, "rejected", ["R04"]),
        ({"requested_amount": D("25000.00")}, "pre_approved", []),
        ({"requested_amount": D("25000.01")}, "manual_review", ["M03"]),
        ({"requested_amount": D("100000.01")}, "rejected", ["R05"]),
        ({"annual_income": D("12000.00")}, "pre_approved", []),
        ({"annual_income": D("11999.99")}, "rejected", ["R03"]),
        ({"fraud_flags": ["email_shared"]}, "manual_review", ["M01"]),
        ({"income_status": "mismatch"}, "manual_review", ["M02"]),
        ({"max_affordable_amount": D("0.00")}, "manual_review", ["M05"]),
        ({"credit_score": 500, "back_end_dti": D("60"), "annual_income": D("100")}, "rejected", ["R01", "R02", "R03"]),
    ],
)
def test_policy_boundaries(change, decision, codes):
    output = DecisionAgent().decide({**BASE_DECISION, **change})

    assert output["decision"] == decision
    assert [reason["code"] for reason in output["reasons"]] == codes
    if decision == "rejected":
        assert output["recommended_amount"] is None and output["reasons"]


def test_a_pre_approval_is_capped_by_what_the_income_supports():
    output = DecisionAgent().decide({**BASE_DECISION, "max_affordable_amount": D("8000.00")})

    assert (output["decision"], output["recommended_amount"]) == ("pre_approved", D("8000.00"))
    assert output["conditions"] == ["Approved for a lower amount than requested"]
