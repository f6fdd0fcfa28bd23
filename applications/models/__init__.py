"""Partners, customers, loan applications, reviews and notifications (one module each).

Each module's docstring states its invariants.
"""

from auditlog.registry import auditlog

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

auditlog.register(Partner)
auditlog.register(PartnerAPIKey, exclude_fields=["hashed_key", "id"])
auditlog.register(Customer, mask_fields=["pan"])
auditlog.register(LoanApplication)
auditlog.register(Reviewer)
auditlog.register(ReviewDecision)
auditlog.register(Notification, exclude_fields=["attempts", "next_attempt_at"])
