"""Every state change of the agents app: scoring policies, scoring, batch jobs and re-scores.

Each function is atomic, takes keyword arguments and returns what changed; the doors (admin,
tasks, the command) call these and only present the result. Import them from here.
"""

from .batches import (
    RESCORE_PERMISSION,
    RescoreRequest,
    rescore_applications,
    score_in_batches,
    score_stalled_applications,
)
from .policies import POLICY_FIELDS, activate_scoring_policy, publish_scoring_policy
from .scoring import ApplicationsLocked, ScoringReport, score_applications

__all__ = [
    "POLICY_FIELDS",
    "RESCORE_PERMISSION",
    "ApplicationsLocked",
    "RescoreRequest",
    "ScoringReport",
    "activate_scoring_policy",
    "publish_scoring_policy",
    "rescore_applications",
    "score_applications",
    "score_in_batches",
    "score_stalled_applications",
]
