"""Stated reasons for decisions (adverse-action style): R codes reject, M codes refer to a
reviewer. Agents and reviewers use the same list, so a customer's letter reads the same way
whoever decided."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "R01": "Credit score below the minimum",
    "R02": "Debt-to-income ratio too high",
    "R03": "Income below the minimum",
    "R04": "Overall risk too high",
    "R05": "Requested amount above the maximum we lend",
    "R06": "Income could not be verified",
    "R07": "Incomplete or inconsistent documents",
    "R08": "Identity could not be verified",
    "M01": "Possible duplicate or fraud: {flags}",
    "M02": "Declared income above the income seen in bank data",
    "M03": "Amount above the automatic pre-approval limit",
    "M04": "Credit score, debt-to-income or risk not strong enough for automatic pre-approval",
    "M05": "Requested amount above what the income supports; a lower amount is possible",
    "M09": "Automated checks incomplete ({agents} failed); a reviewer decides",
}

REJECTION_CODES = [code for code in REASONS if code.startswith("R")]


def reason(code: str, **details) -> dict:
    """{"code": ..., "text": ...} with the details filled in."""
    return {"code": code, "text": REASONS[code].format(**details)}
