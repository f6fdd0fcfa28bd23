import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loanproject.core.admin import paginator as paginator_module
from loanproject.core.admin.paginator import EstimatedCountPaginator
from loanproject.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def make_events(count: int) -> None:
    OutboxEvent.objects.bulk_create(
        OutboxEvent(topic="t", aggregate_type="x", aggregate_id=str(i)) for i in range(count)
    )


def test_big_unfiltered_lists_use_the_planner_estimate(monkeypatch):
    make_events(120)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_outboxevent")
    make_events(5)  # after ANALYZE: the estimate still says 120, the table holds 125
    monkeypatch.setattr(paginator_module, "ESTIMATE_ABOVE_ROWS", 100)

    with CaptureQueriesContext(connection) as unfiltered_queries:
        unfiltered = EstimatedCountPaginator(OutboxEvent.objects.order_by("id"), 50).count
    with CaptureQueriesContext(connection) as filtered_queries:
        filtered = EstimatedCountPaginator(OutboxEvent.objects.filter(aggregate_id="7").order_by("id"), 50).count

    assert (unfiltered, OutboxEvent.objects.count()) == (120, 125)
    assert not any("COUNT(" in query["sql"].upper() for query in unfiltered_queries.captured_queries)
    assert filtered == 1  # counted exactly
    assert any("COUNT(" in query["sql"].upper() for query in filtered_queries.captured_queries)


def test_small_tables_are_counted_even_unfiltered(monkeypatch):
    make_events(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_outboxevent")
    make_events(2)

    assert EstimatedCountPaginator(OutboxEvent.objects.order_by("id"), 50).count == 32


def test_small_lists_are_counted_exactly():
    make_events(3)

    assert EstimatedCountPaginator(OutboxEvent.objects.order_by("id"), 50).count == 3


def test_a_deep_page_reads_its_keys_first_then_its_rows(monkeypatch):
    make_events(7)
    monkeypatch.setattr(paginator_module, "DEFERRED_JOIN_FROM", 2)
    events = OutboxEvent.objects.order_by("-id")
    expected = list(events)[2:4]

    with CaptureQueriesContext(connection) as captured:
        page = EstimatedCountPaginator(events, 2).page(2)
        rows = list(page.object_list)

    assert rows == expected
    keys, loaded = [query["sql"] for query in captured.captured_queries if "core_outboxevent" in query["sql"]][-2:]
    assert keys.startswith('SELECT "core_outboxevent"."id" AS "pk" FROM') and keys.endswith("LIMIT 2 OFFSET 2")
    assert '"core_outboxevent"."id" IN (' in loaded and "OFFSET" not in loaded


def test_a_filtered_list_the_planner_expects_to_be_big_is_not_counted(monkeypatch):
    make_events(3)
    monkeypatch.setattr(paginator_module, "ESTIMATE_ABOVE_ROWS", 1)
    monkeypatch.setattr(paginator_module, "planned_row_count", lambda queryset: 1234)

    with CaptureQueriesContext(connection) as captured:
        count = EstimatedCountPaginator(OutboxEvent.objects.filter(topic="t").order_by("id"), 50).count

    assert count == 1234
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
