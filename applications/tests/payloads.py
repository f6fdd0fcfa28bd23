"""Request bodies shared by the API tests."""

from __future__ import annotations


def application_payload(**overrides) -> dict:
    """A valid POST /api/v1/applications/ body."""
    body = {
        "external_ref": "APP-1",
        "customer": {
            "external_ref": "CUST-1",
            "full_name": "Asha Patel",
            "email": "asha@example.com",
            "phone": "+1 212 555 0101",
            "address": "1 Main Street",
            "pan": "ABCDE1234F",
        },
        "requested_amount": "25000.00",
        "term_months": 36,
        "purpose": "vehicle",
        "annual_income": "85000.00",
        "employment_status": "employed",
        "employment_duration_months": 40,
        "existing_debts": "12000.00",
        "monthly_debt_payments": "450.00",
        "credit_score": 720,
        "total_payments": 100,
        "late_payments": 2,
        "utilization": "30.00",
        "credit_inquiries": 1,
        "credit_history_months": 84,
        "credit_mix": ["credit_card", "auto_loan"],
        "repayment_history": [{"month": "2026-01", "status": "on_time"}, {"month": "2026-02", "status": "late_30"}],
    }
    body.update(overrides)
    return body
