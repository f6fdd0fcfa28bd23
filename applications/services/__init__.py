"""Every state change of partners, customers, applications, reviews and notifications.

Each function is atomic, takes keyword arguments, validates, changes state, writes audit entries
and outbox events for the apps above this one, and returns what changed. Doors (admin, API,
tasks, commands) call these and only present the result. One module per concern; import them
from here.
"""

from .applications import mark_application_booked, request_rescoring, submit_application, withdraw_application
from .customers import pan_blind_index, register_customer, update_customer
from .inputs import ApplicationData, CustomerData, Reason
from .notifications import deliver_notification, notify_application_decided, notify_loan_booked, retry_notifications
from .partners import issue_partner_api_key, register_partner, revoke_partner_api_key, update_partner
from .reviews import (
    AUTHORITY_FIELDS,
    AUTHORITY_PERMISSION,
    assign_application,
    assign_waiting_applications,
    pick_reviewers,
    record_review_decision,
    register_reviewer,
    update_reviewer,
)
from .scoring import ScoringOutcome, record_scoring_outcomes

__all__ = [
    "AUTHORITY_FIELDS",
    "AUTHORITY_PERMISSION",
    "ApplicationData",
    "CustomerData",
    "Reason",
    "ScoringOutcome",
    "assign_application",
    "assign_waiting_applications",
    "deliver_notification",
    "issue_partner_api_key",
    "mark_application_booked",
    "notify_application_decided",
    "notify_loan_booked",
    "pan_blind_index",
    "pick_reviewers",
    "record_review_decision",
    "record_scoring_outcomes",
    "register_customer",
    "register_partner",
    "register_reviewer",
    "request_rescoring",
    "retry_notifications",
    "revoke_partner_api_key",
    "submit_application",
    "update_customer",
    "update_partner",
    "update_reviewer",
    "withdraw_application",
]
