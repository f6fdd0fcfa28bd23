"""Partners, customers, loan applications, reviews and notifications (one module each).

Each module's docstring states its invariants.
"""

from loanproject.core import audit

from .applications import Decision, EmploymentStatus, LoanApplication, LoanPurpose, RiskLevel
from .customers import PAN_CONTEXT, Customer
from .notifications import Channel, Notification, NotificationStatus
from .partners import Partner, PartnerAPIKey, PartnerAPIKeyManager
from .reviews import ReviewDecision, Reviewer, ReviewerRole, ReviewOutcome

__all__ = [
    "PAN_CONTEXT",
    "Channel",
    "Customer",
    "Decision",
    "EmploymentStatus",
    "LoanApplication",
    "LoanPurpose",
    "Notification",
    "NotificationStatus",
    "Partner",
    "PartnerAPIKey",
    "PartnerAPIKeyManager",
    "ReviewDecision",
    "ReviewOutcome",
    "Reviewer",
    "ReviewerRole",
    "RiskLevel",
]

audit.register(Partner)
audit.register(PartnerAPIKey, exclude_fields=["hashed_key", "id"])
audit.register(Customer, mask_fields=["pan"])
audit.register(LoanApplication)
audit.register(Reviewer)
audit.register(ReviewDecision)
audit.register(Notification, exclude_fields=["attempts", "next_attempt_at"])
