"""Publishing and activating scoring policy versions."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max, Q

from loanproject.core.errors import NotFound
from loanproject.core.rules import refusals_as_field_errors, validate_fields

from ..models import ScoringPolicy

POLICY_FIELDS = [
    "name",
    "notes",
    "reject_below_credit_score",
    "pre_approve_from_credit_score",
    "max_back_end_dti",
    "pre_approve_max_back_end_dti",
    "reject_above_risk_score",
    "pre_approve_max_risk_score",
    "max_amount",
    "pre_approve_max_amount",
    "min_annual_income",
    "income_tolerance_percent",
    "rate_low",
    "rate_medium",
    "rate_high",
    "rate_very_high",
]


def _lock_active_policies(*, also: int | None = None) -> list[ScoringPolicy]:
    """Lock the active version (and `also`) in pk order. Every writer of `is_active` takes this
    lock first, so two of them queue up instead of both activating a version: the second then
    sees the first one's choice and deactivates it, and `one_active_scoring_policy` holds."""
    condition = Q(is_active=True) if also is None else Q(is_active=True) | Q(pk=also)
    return list(ScoringPolicy.objects.select_for_update().filter(condition).order_by("pk"))


@transaction.atomic
def publish_scoring_policy(*, created_by: User | None, activate: bool = True, **rules) -> ScoringPolicy:
    """A new policy version (policies are never edited in place); active at once by default."""
    unknown = set(rules) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown policy fields: {sorted(unknown)}")
    # The active row's lock also makes two publishers queue up for the next version number.
    _lock_active_policies()
    version = (ScoringPolicy.objects.aggregate(top=Max("version"))["top"] or 0) + 1
    policy = ScoringPolicy(version=version, created_by=created_by, **rules)
    validate_fields(policy, exclude=["is_active"])
    if activate:
        ScoringPolicy.objects.filter(is_active=True).update(is_active=False)
        policy.is_active = True
    with refusals_as_field_errors():
        policy.save()
    return policy


@transaction.atomic
def activate_scoring_policy(*, policy_id: int) -> ScoringPolicy:
    """Go back to (or forward to) an existing version."""
    policy = next((p for p in _lock_active_policies(also=policy_id) if p.pk == policy_id), None)
    if policy is None:
        raise NotFound(f"No scoring policy #{policy_id}.")
    # A fresh statement: it sees a version another activator committed while this one waited.
    ScoringPolicy.objects.filter(is_active=True).exclude(pk=policy.pk).update(is_active=False)
    if not policy.is_active:
        policy.is_active = True
        policy.save(update_fields=["is_active"])
    return policy
