"""What each agent found, in a sentence a reviewer reads, and which agent found each stated reason.

Pure functions of the recorded agent results (their inputs and outputs as stored: decimals come
back from JSON as strings, shown as they are). The reviewer's page puts every reason and flag of
an application beside the finding that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .models import AgentStatus

# What each fraud flag means, and the fraud agent's input that counts it.
FRAUD_FLAGS: dict[str, tuple[str, str]] = {
    "duplicate_open_application": ("Another open application with the same PAN", "other_open_applications_same_pan"),
    "email_shared": ("E-mail shared with other PANs", "other_pans_sharing_email"),
    "phone_shared": ("Phone shared with other PANs", "other_pans_sharing_phone"),
    "velocity": ("Many applications with this PAN in 30 days", "applications_same_pan_30d"),
}


@dataclass(frozen=True)
class Result:
    """One agent's recorded run (AgentResult's fields the page reads)."""

    agent: str
    status: str
    input: Mapping[str, Any]
    output: Mapping[str, Any]
    error: str = ""


@dataclass(frozen=True)
class Finding:
    code: str  # a reason code (R01, M04, ...) or a fraud flag's name
    text: str  # the reason or flag as stated
    agent: str  # the agent that found it; "" when a reviewer stated it
    finding: str


def agent_finding(result: Result) -> str:
    """One line: what the agent concluded, with the figures it concluded it from."""
    if result.status == AgentStatus.FAILED:
        return f"Failed: {result.error}"
    if result.status == AgentStatus.SKIPPED:
        return f"Skipped: {result.error}"
    describe = _DESCRIBERS.get(result.agent)
    return describe(result.input, result.output) if describe else ""


def _bureau(i: Mapping, o: Mapping) -> str:
    return f"Bureau score {o['score']} ({o['source']})"


def _credit(i: Mapping, o: Mapping) -> str:
    return f"Score {o['score']} ({o['tier']}): bureau {o['bureau_score']}, own model {o['internal_score']}"


def _affordability(i: Mapping, o: Mapping) -> str:
    return (
        f"Payment {o['requested_payment']} a month on an income of {o['monthly_income']}: "
        f"front-end DTI {o['front_end_dti']} %, back-end DTI {o['back_end_dti']} %; "
        f"affordable up to {o['max_affordable_amount']}"
    )


def _income(i: Mapping, o: Mapping) -> str:
    if o["status"] == "unverified":
        return f"Declared {o['declared_monthly_income']} a month; no bank data to verify it"
    return (
        f"Declared {o['declared_monthly_income']} a month, seen {o['verified_monthly_income']} in bank data "
        f"(tolerance {i['tolerance_percent']} %): {o['status']}"
    )


def _fraud(i: Mapping, o: Mapping) -> str:
    if not o["flags"]:
        return "No flags"
    return "; ".join(_flag_finding(flag, i) for flag in o["flags"]) + f" (fraud score {o['fraud_score']})"


def _risk(i: Mapping, o: Mapping) -> str:
    largest_first = sorted(o["contributions"].items(), key=lambda item: (-Decimal(str(item[1])), item[0]))
    parts = ", ".join(f"{name.replace('_', ' ')} {points}" for name, points in largest_first)
    return f"Risk score {o['score']} ({o['level'].replace('_', ' ')}): {parts}"


def _decision(i: Mapping, o: Mapping) -> str:
    codes = ", ".join(stated["code"] for stated in o["reasons"]) or "no reasons"
    return f"{o['decision'].replace('_', ' ').capitalize()} under policy v{i['policy_version']} ({codes})"


_DESCRIBERS = {
    "bureau": _bureau,
    "credit_scoring": _credit,
    "affordability": _affordability,
    "income_verification": _income,
    "fraud_checks": _fraud,
    "risk_assessment": _risk,
    "decision": _decision,
}


def _flag_finding(flag: str, fraud_input: Mapping) -> str:
    label, counted = FRAUD_FLAGS.get(flag, (flag, ""))
    return f"{label}: {fraud_input[counted]}" if counted in fraud_input else label


def _pre_approval_shortfalls(i: Mapping) -> tuple[str, str]:
    """M04: which of credit score, DTI and risk missed the pre-approval bar, and by what."""
    misses = []
    if i["credit_score"] < i["pre_approve_from_credit_score"]:
        misses.append(("credit_scoring", f"credit score {i['credit_score']} < {i['pre_approve_from_credit_score']}"))
    if _greater(i["back_end_dti"], i["pre_approve_max_back_end_dti"]):
        misses.append(("affordability", f"back-end DTI {i['back_end_dti']} % > {i['pre_approve_max_back_end_dti']} %"))
    if _greater(i["risk_score"], i["pre_approve_max_risk_score"]):
        misses.append(("risk_assessment", f"risk score {i['risk_score']} > {i['pre_approve_max_risk_score']}"))
    return ", ".join(agent for agent, _ in misses), "; ".join(text for _, text in misses)


def _greater(left: Any, right: Any) -> bool:
    """left > right for stored decimals (JSON strings or numbers), compared as Decimal."""
    return Decimal(str(left)) > Decimal(str(right))


def reason_finding(code: str, results: Mapping[str, Result]) -> tuple[str, str]:
    """(agent, finding) behind a stated reason, from the decision agent's inputs (which carry every
    figure and threshold it decided on) and the agent that produced the figure."""
    decision = results.get("decision")
    i = decision.input if decision and decision.status == AgentStatus.SUCCESS else {}
    if code == "M09":
        failed = [r for r in results.values() if r.status != AgentStatus.SUCCESS]
        return ", ".join(r.agent for r in failed), "; ".join(f"{r.agent}: {r.error}" for r in failed)
    if code == "M01" and "fraud_checks" in results:
        return "fraud_checks", agent_finding(results["fraud_checks"])
    if code == "M02" and "income_verification" in results:
        return "income_verification", agent_finding(results["income_verification"])
    if not i:
        return "", "Stated by a reviewer" if code.startswith("R") else ""
    by_code = {
        "R01": ("credit_scoring", f"Credit score {i['credit_score']} < minimum {i['reject_below_credit_score']}"),
        "R02": ("affordability", f"Back-end DTI {i['back_end_dti']} % > maximum {i['max_back_end_dti']} %"),
        "R03": ("decision", f"Declared annual income {i['annual_income']} < minimum {i['min_annual_income']}"),
        "R04": ("risk_assessment", f"Risk score {i['risk_score']} > maximum {i['reject_above_risk_score']}"),
        "R05": ("decision", f"Requested {i['requested_amount']} > maximum {i['max_amount']}"),
        "M03": ("decision", f"Requested {i['requested_amount']} > pre-approval limit {i['pre_approve_max_amount']}"),
        "M04": _pre_approval_shortfalls(i),
        "M05": ("affordability", f"Requested {i['requested_amount']}, affordable {i['max_affordable_amount']}"),
    }
    return by_code.get(code, ("", "Stated by a reviewer"))


def findings(reasons: list[Mapping[str, str]], results: Mapping[str, Result]) -> list[Finding]:
    """Every stated reason with its agent's finding, then every fraud flag with its count."""
    rows = [Finding(stated["code"], stated["text"], *reason_finding(stated["code"], results)) for stated in reasons]
    fraud = results.get("fraud_checks")
    if fraud is not None and fraud.status == AgentStatus.SUCCESS:
        rows += [
            Finding(flag, FRAUD_FLAGS.get(flag, (flag, ""))[0], "fraud_checks", _flag_finding(flag, fraud.input))
            for flag in fraud.output["flags"]
        ]
    return rows
