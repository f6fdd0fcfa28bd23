"""Stated reasons for decisions (adverse-action style): R codes reject, M codes refer to a
reviewer. Agents and reviewers use the same list, so a customer's letter reads the same way
whoever decided.

Staff see every reason as stated. Partners and their customers see rejection reasons as stated
and every referral as the one generic M00, whatever referred it: M01 names what the fraud checks
found among *every* partner's customers (the same PAN with another open application, an e-mail or
phone shared with other PANs), and if it alone were hidden, the other M codes would give it away
by their absence.
"""

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
    "M00": "Referred to a reviewer",
    "M01": "Possible duplicate or fraud: {flags}",
    "M02": "Declared income above the income seen in bank data",
    "M03": "Amount above the automatic pre-approval limit",
    "M04": "Credit score, debt-to-income or risk not strong enough for automatic pre-approval",
    "M05": "Requested amount above what the income supports; a lower amount is possible",
    "M09": "Automated checks incomplete ({agents} failed); a reviewer decides",
}

REJECTION_CODES = [code for code in REASONS if code.startswith("R")]
GENERIC_REFERRAL = "M00"


def reason(code: str, **details) -> dict:
    """{"code": ..., "text": ...} with the details filled in."""
    return {"code": code, "text": REASONS[code].format(**details)}


def shown_to_partners(reasons: list[dict]) -> list[dict]:
    """What a partner and its customer read of an application's stated reasons: the rejection
    reasons as stated, then the generic referral once if anything else was stated."""
    shown = [stated for stated in reasons if stated.get("code") in REJECTION_CODES]
    if len(shown) < len(reasons):
        shown.append(reason(GENERIC_REFERRAL))
    return shown
