"""Every index of the agents' tables earns its keep: scoring writes seven agent results, a run and
analytics per application, and each index is one more insert for each of them."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db


def indexes_of(table: str) -> dict[str, tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    # Unique constraints and the primary key are indexes too (introspection lists them apart).
    return {
        name: tuple(info["columns"])
        for name, info in constraints.items()
        if info["index"] or info["unique"] or info["primary_key"]
    }


@pytest.mark.parametrize("model", list(apps.get_app_config("agents").get_models()), ids=lambda m: m.__name__)
def test_no_index_is_covered_by_another_that_leads_with_its_columns(model):
    indexes = indexes_of(model._meta.db_table)

    covered = {
        (name, other)
        for name, columns in indexes.items()
        for other, other_columns in indexes.items()
        if other != name and len(other_columns) > len(columns) and other_columns[: len(columns)] == columns
    }

    assert covered == set()


def test_agent_results_carry_three_indexes_and_only_problems_feed_the_agent_index():
    from agents.models import AgentResult

    assert set(indexes_of(AgentResult._meta.db_table)) == {
        "agents_agentresult_pkey",
        "agent_result_once_per_run",
        "agent_result_problem_idx",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('agent_result_problem_idx'::regclass)")
        assert cursor.fetchone()[0].endswith("WHERE (NOT ((status)::text = 'success'::text))")
