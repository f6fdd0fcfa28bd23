"""Prometheus metrics of applications."""

from prometheus_client import Counter

APPLICATIONS_SUBMITTED = Counter("loan_applications_submitted_total", "Loan applications submitted", ["source"])
APPLICATIONS_DECIDED = Counter(
    "loan_applications_decided_total", "Decisions on loan applications", ["decision", "decided_by"]
)
NOTIFICATIONS_DELIVERED = Counter(
    "notifications_delivered_total", "Notification delivery attempts", ["channel", "outcome"]
)
