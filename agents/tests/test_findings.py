"""What the reviewer's page says each agent found, and which agent found each stated reason."""

from __future__ import annotations

from agents.findings import Finding, Result, agent_finding, findings, reason_finding
from applications.reasons import reason

DECISION_INPUT = {
    "policy_version": 3,
    "requested_amount": "30000.00",
    "annual_income": "60000.00",
    "credit_score": 650,
    "back_end_dti": "38.50",
    "max_affordable_amount": "21000.00",
    "income_status": "verified",
    "fraud_flags": [],
    "risk_score": "45.00",
    "risk_level": "medium",
    "reject_below_credit_score": 550,
    "pre_approve_from_credit_score": 680,
    "max_back_end_dti": "50.00",
    "pre_approve_max_back_end_dti": "36.00",
    "reject_above_risk_score": "75.00",
    "pre_approve_max_risk_score": "40.00",
    "max_amount": "100000.00",
    "pre_approve_max_amount": "25000.00",
    "min_annual_income": "12000.00",
    "rate": "11.00",
}


def decision(**changes) -> Result:
    return Result("decision", "success", {**DECISION_INPUT, **changes}, {"decision": "manual_review", "reasons": []})


def test_m04_names_each_bar_missed_with_its_agent():
    assert reason_finding("M04", {"decision": decision()}) == (
        "credit_scoring, affordability, risk_assessment",
        "credit score 650 < 680; back-end DTI 38.50 % > 36.00 %; risk score 45.00 > 40.00",
    )
    assert reason_finding("M04", {"decision": decision(credit_score=700, risk_score="12.00")}) == (
        "affordability",
        "back-end DTI 38.50 % > 36.00 %",
    )


def test_threshold_reasons_quote_the_figure_and_the_policy():
    results = {"decision": decision()}
    assert reason_finding("M03", results) == ("decision", "Requested 30000.00 > pre-approval limit 25000.00")
    assert reason_finding("M05", results) == ("affordability", "Requested 30000.00, affordable 21000.00")
    assert reason_finding("R02", results) == ("affordability", "Back-end DTI 38.50 % > maximum 50.00 %")
    assert reason_finding("R07", results) == ("", "Stated by a reviewer")


def test_failed_agents_are_the_finding_of_m09():
    results = {
        "bureau": Result("bureau", "success", {}, {"score": 700, "source": "supplied"}),
        "income_verification": Result("income_verification", "failed", {}, {}, "KeyError: 'x'"),
        "decision": Result("decision", "skipped", {}, {}, "needs income_verification"),
    }
    assert reason_finding("M09", results) == (
        "income_verification, decision",
        "income_verification: KeyError: 'x'; decision: needs income_verification",
    )
    assert agent_finding(results["income_verification"]) == "Failed: KeyError: 'x'"
    assert agent_finding(results["decision"]) == "Skipped: needs income_verification"


def test_every_reason_then_every_fraud_flag():
    fraud = Result(
        "fraud_checks",
        "success",
        {
            "other_open_applications_same_pan": 1,
            "other_pans_sharing_email": 0,
            "other_pans_sharing_phone": 2,
            "applications_same_pan_30d": 2,
        },
        {"flags": ["duplicate_open_application", "phone_shared"], "fraud_score": 65, "duplicate": True},
    )
    stated = [reason("M01", flags="duplicate_open_application, phone_shared"), reason("M03")]

    assert findings(stated, {"fraud_checks": fraud, "decision": decision()}) == [
        Finding(
            "M01",
            "Possible duplicate or fraud: duplicate_open_application, phone_shared",
            "fraud_checks",
            "Another open application with the same PAN: 1; Phone shared with other PANs: 2 (fraud score 65)",
        ),
        Finding(
            "M03",
            "Amount above the automatic pre-approval limit",
            "decision",
            "Requested 30000.00 > pre-approval limit 25000.00",
        ),
        Finding(
            "duplicate_open_application",
            "Another open application with the same PAN",
            "fraud_checks",
            "Another open application with the same PAN: 1",
        ),
        Finding("phone_shared", "Phone shared with other PANs", "fraud_checks", "Phone shared with other PANs: 2"),
    ]


def test_income_finding_compares_declared_and_verified():
    income = Result(
        "income_verification",
        "success",
        {"declared_annual_income": "90000.00", "verified_monthly_income": "5000.00", "tolerance_percent": "20.00"},
        {
            "status": "mismatch",
            "declared_monthly_income": "7500.00",
            "verified_monthly_income": "5000.00",
            "declared_to_verified": "1.5000",
            "flagged": True,
        },
    )
    assert reason_finding("M02", {"income_verification": income}) == (
        "income_verification",
        "Declared 7500.00 a month, seen 5000.00 in bank data (tolerance 20.00 %): mismatch",
    )
