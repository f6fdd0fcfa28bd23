"""Validation of the application's structured inputs (used by models, services and the API)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

PAN_RE = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
PHONE_RE = re.compile(r"^\+?[0-9]+$")
PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")  # [0-9]: \d also matches "٢٠٢٦"

CREDIT_MIX_KINDS = frozenset(
    {"credit_card", "auto_loan", "mortgage", "student_loan", "personal_loan", "business_loan", "other"}
)


class RepaymentStatus(models.TextChoices):
    ON_TIME = "on_time", "On time"
    LATE_30 = "late_30", "30 days late"
    LATE_60 = "late_60", "60 days late"
    LATE_90 = "late_90", "90 days late"
    DEFAULT = "default", "Defaulted"


REPAYMENT_STATUSES = frozenset(RepaymentStatus.values)
MAX_REPAYMENT_MONTHS = 120


def normalize_pan(value: str) -> str:
    return (value or "").strip().upper()


def normalize_email(value: str) -> str:
    """E-mail as stored and compared: no surrounding blanks, lower case (duplicate checks compare it)."""
    return (value or "").strip().lower()


def normalize_phone(value: str) -> str:
    """Phone as stored and compared: separators (blanks, dashes, dots, slashes, parentheses) removed,
    so "+1 (212) 555-0101" and "+1 212 555 0101" are the same number, "+12125550101"."""
    return PHONE_SEPARATORS.sub("", value or "")


def validate_phone(value: str) -> None:
    """A normalised phone: digits with an optional leading +, or blank."""
    if value and not PHONE_RE.match(value):
        raise ValidationError(
            "Enter a phone number: digits with an optional leading + (blanks, dashes, dots and "
            "parentheses are ignored).",
            code="invalid_phone",
        )


def validate_pan(value: str) -> None:
    """PAN: five letters, four digits, one letter (e.g. ABCDE1234F)."""
    if not PAN_RE.match(value or ""):
        raise ValidationError(
            "Enter a valid PAN: five letters, four digits and a letter, e.g. ABCDE1234F.", code="invalid_pan"
        )


def validate_credit_mix(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Credit mix must be a list of account kinds.", code="invalid")
    unknown = sorted(set(value) - CREDIT_MIX_KINDS)
    if unknown:
        raise ValidationError(
            "Unknown credit kind(s): %(unknown)s. Use: %(known)s.",
            params={"unknown": ", ".join(unknown), "known": ", ".join(sorted(CREDIT_MIX_KINDS))},
            code="invalid",
        )
    if len(set(value)) != len(value):
        raise ValidationError("Credit mix lists a kind twice.", code="invalid")


def validate_repayment_history(value: object) -> None:
    """A list of {"month": "YYYY-MM", "status": <repayment status>}, one entry per month."""
    if not isinstance(value, list):
        raise ValidationError("Repayment history must be a list.", code="invalid")
    if len(value) > MAX_REPAYMENT_MONTHS:
        raise ValidationError("Repayment history is limited to %(max)s months.", params={"max": MAX_REPAYMENT_MONTHS})
    seen: set[str] = set()
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {"month", "status"}:
            raise ValidationError("Entry %(index)s must have exactly 'month' and 'status'.", params={"index": index})
        month, status = entry["month"], entry["status"]
        if not isinstance(month, str) or not MONTH_RE.match(month):
            raise ValidationError("Entry %(index)s: month must be YYYY-MM.", params={"index": index})
        if status not in REPAYMENT_STATUSES:
            raise ValidationError(
                "Entry %(index)s: status must be one of %(known)s.",
                params={"index": index, "known": ", ".join(sorted(REPAYMENT_STATUSES))},
            )
        if month in seen:
            raise ValidationError("Month %(month)s appears twice.", params={"month": month})
        seen.add(month)
