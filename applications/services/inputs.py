"""Typed inputs of the application services."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class CustomerData:
    full_name: str
    email: str
    pan: str
    phone: str = ""
    address: str = ""
    external_ref: str = ""
    push_token: str | None = None  # None: keep the token a known customer has (a web flow has none)


@dataclass(frozen=True)
class ApplicationData:
    requested_amount: Decimal
    purpose: str
    annual_income: Decimal
    employment_status: str
    term_months: int = 36
    external_ref: str = ""
    employment_duration_months: int = 0
    existing_debts: Decimal = Decimal("0")
    monthly_debt_payments: Decimal = Decimal("0")
    credit_score: int | None = None
    total_payments: int = 0
    late_payments: int = 0
    utilization: Decimal = Decimal("0")
    credit_inquiries: int = 0
    credit_history_months: int = 0
    credit_mix: list[str] = field(default_factory=list)
    repayment_history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def as_json(self) -> dict:
        return {"code": self.code, "text": self.text}
