"""Races on real PostgreSQL: two staff members at once, one consistent result, never a 500."""

import pytest

from agents import services
from agents.models import ScoringPolicy
from loanproject.core.testing import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def inactive_versions(count: int) -> list[ScoringPolicy]:
    active = ScoringPolicy.objects.get(is_active=True)
    rules = {field: getattr(active, field) for field in services.POLICY_FIELDS}
    return [services.publish_scoring_policy(created_by=None, activate=False, **rules) for _ in range(count)]


@pytest.mark.parametrize("attempt", range(5))  # each attempt is a fresh race
def test_two_activations_at_once_both_succeed_and_leave_one_active(scoring_policy, attempt):
    second, third = inactive_versions(2)

    results = run_together(
        lambda: services.activate_scoring_policy(policy_id=second.pk),
        lambda: services.activate_scoring_policy(policy_id=third.pk),
    )

    assert [type(result) for result in results] == [ScoringPolicy, ScoringPolicy]
    active = list(ScoringPolicy.objects.filter(is_active=True).values_list("pk", flat=True))
    assert len(active) == 1 and active[0] in {second.pk, third.pk}
    assert ScoringPolicy.objects.count() == 3


@pytest.mark.parametrize("attempt", range(3))
def test_an_activation_and_a_publication_at_once_leave_one_active(scoring_policy, attempt):
    (second,) = inactive_versions(1)
    rules = {field: getattr(scoring_policy, field) for field in services.POLICY_FIELDS}

    results = run_together(
        lambda: services.activate_scoring_policy(policy_id=second.pk),
        lambda: services.publish_scoring_policy(created_by=None, **{**rules, "name": "Published"}),
    )

    assert [type(result) for result in results] == [ScoringPolicy, ScoringPolicy]
    assert ScoringPolicy.objects.filter(is_active=True).count() == 1
    assert sorted(ScoringPolicy.objects.values_list("version", flat=True)) == [1, 2, 3]
