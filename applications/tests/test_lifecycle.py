import pytest

from applications.lifecycle import (
    ALLOWED_TRANSITIONS,
    FINAL_STATUSES,
    ApplicationStatus,
    can_transition,
    ensure_transition,
)
from loanproject.core.errors import IllegalTransition

S = ApplicationStatus


def test_the_lifecycle_covers_every_status():
    assert set(ALLOWED_TRANSITIONS) == set(S.values)
    assert {S.REJECTED, S.WITHDRAWN, S.BOOKED} == FINAL_STATUSES


@pytest.mark.parametrize(
    "current, target",
    [
        (S.SUBMITTED, S.SCORING),
        (S.SCORING, S.PRE_APPROVED),
        (S.SCORING, S.MANUAL_REVIEW),
        (S.SCORING, S.REJECTED),
        (S.PRE_APPROVED, S.APPROVED),
        (S.MANUAL_REVIEW, S.APPROVED),
        (S.MANUAL_REVIEW, S.REJECTED),
        (S.MANUAL_REVIEW, S.SCORING),
        (S.APPROVED, S.BOOKED),
        (S.SUBMITTED, S.WITHDRAWN),
        (S.APPROVED, S.WITHDRAWN),
    ],
)
def test_allowed(current, target):
    assert can_transition(current, target)
    ensure_transition(current, target)


@pytest.mark.parametrize(
    "current, target",
    [
        (S.SUBMITTED, S.APPROVED),
        (S.SUBMITTED, S.BOOKED),
        (S.SCORING, S.BOOKED),
        (S.MANUAL_REVIEW, S.BOOKED),
        (S.REJECTED, S.APPROVED),
        (S.WITHDRAWN, S.SUBMITTED),
        (S.BOOKED, S.WITHDRAWN),
        (S.APPROVED, S.REJECTED),
    ],
)
def test_refused(current, target):
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition):
        ensure_transition(current, target)
