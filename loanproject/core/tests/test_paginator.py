import pytest
from django.db import connection

from loanproject.core.admin import paginator as paginator_module
from loanproject.core.admin.paginator import EstimatedCountPaginator, estimated_row_count
from loanproject.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def make_events(count: int) -> None:
    OutboxEvent.objects.bulk_create(
        OutboxEvent(topic="t", aggregate_type="x", aggregate_id=str(i)) for i in range(count)
    )


@pytest.mark.postgres
def test_big_unfiltered_lists_use_the_planner_estimate(monkeypatch):
    make_events(120)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_outboxevent")
    monkeypatch.setattr(paginator_module, "ESTIMATE_ABOVE_ROWS", 100)

    unfiltered = EstimatedCountPaginator(OutboxEvent.objects.order_by("id"), 50)
    filtered = EstimatedCountPaginator(OutboxEvent.objects.filter(aggregate_id="7").order_by("id"), 50)

    assert estimated_row_count(OutboxEvent.objects.all()) == 120
    assert unfiltered.count == 120
    assert filtered.count == 1


def test_small_lists_are_counted_exactly():
    make_events(3)

    assert EstimatedCountPaginator(OutboxEvent.objects.order_by("id"), 50).count == 3
