"""The partner lists paged by cursor (core/api/pagination.py): every row exactly once in the
requested order, ties broken by id, inserts during a walk, no way around the partner scope."""

from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from loanproject.core.testing import walk_cursor_pages as walk

from .factories import CustomerFactory, LoanApplicationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def expected(partner, key: str, *, descending: bool) -> list[str]:
    rows = LoanApplication.objects.filter(partner=partner).values_list(key, "id")
    return [str(pk) for _, pk in sorted(rows, reverse=descending)]


@pytest.fixture
def amounts(partner):
    """11 applications of the partner on 3 amounts (ties), 2 of another partner among them."""
    customer = CustomerFactory(partner=partner)
    for amount in ("500.00", "700.00", "700.00", "500.00", "900.00", "700.00", "700.00", "500.00", "900.00"):
        LoanApplicationFactory(customer=customer, requested_amount=Decimal(amount))
    LoanApplicationFactory.create_batch(2, requested_amount=Decimal("700.00"))  # another partner's
    for offset, application in enumerate(LoanApplication.objects.filter(partner=partner)):
        LoanApplication.objects.filter(pk=application.pk).update(
            updated_at=timezone.now() - timedelta(minutes=offset % 3)  # ties on updated_at too
        )
    return customer


class TestWalk:
    @pytest.mark.parametrize(
        "ordering, key, descending",
        [
            ("requested_amount", "requested_amount", False),
            ("-requested_amount", "requested_amount", True),
            ("-updated_at", "updated_at", True),
            ("updated_at", "updated_at", False),
            ("submitted_at", "submitted_at", False),
            (None, "submitted_at", True),  # the default: newest first
        ],
    )
    def test_every_row_once_in_order_ties_by_id(self, partner_client, partner, amounts, ordering, key, descending):
        query = f"?page_size=2&ordering={ordering}" if ordering else "?page_size=2"

        ids, pages = walk(partner_client, URL + query)

        assert ids == expected(partner, key, descending=descending)
        assert (len(ids), pages) == (9, 5)

    def test_previous_links_walk_back_the_same_pages(self, partner_client, partner, amounts):
        forward = []
        url = f"{URL}?page_size=4&ordering=requested_amount"
        while url:
            body = partner_client.get(url).json()
            forward.append([row["id"] for row in body["results"]])
            last, url = body, body["next"]
        backward = []
        url = last["previous"]
        while url:
            body = partner_client.get(url).json()
            backward.append([row["id"] for row in body["results"]])
            url = body["previous"]

        assert [len(page) for page in forward] == [4, 4, 1]
        assert backward == forward[-2::-1]

    def test_rows_inserted_during_a_walk_behind_the_cursor_are_skipped_ahead_of_it_seen_once(
        self, partner_client, partner, amounts
    ):
        first = partner_client.get(f"{URL}?page_size=4&ordering=requested_amount").json()
        seen = [row["id"] for row in first["results"]]  # the three 500.00 and the first 700.00
        before = LoanApplicationFactory(customer=amounts, requested_amount=Decimal("500.00"))
        tie = LoanApplicationFactory(customer=amounts, requested_amount=Decimal("700.00"))
        after = LoanApplicationFactory(customer=amounts, requested_amount=Decimal("800.00"))

        rest, _ = walk(partner_client, first["next"])

        walked = seen + rest
        assert len(walked) == len(set(walked))  # nothing twice
        assert str(before.pk) not in walked and str(after.pk) in walked
        # A new tie is ahead of the cursor or behind it by its id, as a fresh walk orders it.
        tie_ahead = (tie.requested_amount, tie.pk) > (Decimal("700.00"), UUID(seen[-1]))
        fresh = expected(partner, "requested_amount", descending=False)
        assert walked == [pk for pk in fresh if pk != str(before.pk) and (pk != str(tie.pk) or tie_ahead)]


class TestRefused:
    def test_an_ordering_the_list_does_not_offer_is_a_400(self, partner_client, amounts):
        for ordering in ("credit_score", "-customer", "requested_amount,submitted_at", "id"):
            response = partner_client.get(f"{URL}?ordering={ordering}")

            assert response.status_code == 400, ordering
            error = response.json()["error"]
            assert (error["code"], list(error["fields"])) == ("validation_error", ["ordering"])
            assert error["fields"]["ordering"] == [
                "Order by one of: requested_amount, submitted_at, updated_at (prefix - for descending)."
            ]

    def test_page_numbers_are_a_400_that_points_to_the_cursor(self, partner_client, amounts):
        response = partner_client.get(f"{URL}?page=2")

        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {
            "page": ["This list is paged by cursor, not page number: follow the `next` and `previous` links."]
        }

    def test_a_forged_or_edited_cursor_is_a_400(self, partner_client, amounts):
        next_url = partner_client.get(f"{URL}?page_size=2&ordering=requested_amount").json()["next"]
        token = next_url.split("cursor=")[1].split("&")[0]
        forged = [
            "eyJvIjpbInJlcXVlc3RlZF9hbW91bnQiLCJpZCJdLCJwIjpbIjAiLCIwIl0sImIiOjB9",  # unsigned JSON
            token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature edited
            "not-a-cursor",
        ]
        for cursor in forged:
            response = partner_client.get(f"{URL}?page_size=2&ordering=requested_amount&cursor={cursor}")

            assert response.status_code == 400, cursor
            assert response.json()["error"]["fields"] == {"cursor": ["Invalid cursor: use the links we return."]}

    def test_a_cursor_of_another_ordering_or_list_is_a_400(self, partner_client, amounts):
        next_url = partner_client.get(f"{URL}?page_size=2&ordering=requested_amount").json()["next"]
        token = next_url.split("cursor=")[1].split("&")[0]

        other_ordering = partner_client.get(f"{URL}?ordering=-updated_at&cursor={token}")
        other_list = partner_client.get(f"/api/v1/customers/?cursor={token}")

        assert other_ordering.status_code == 400
        assert other_ordering.json()["error"]["fields"] == {
            "cursor": ["This cursor was made for another ordering: start again without it."]
        }
        assert other_list.status_code == 400
        assert other_list.json()["error"]["fields"] == {"cursor": ["Invalid cursor: use the links we return."]}


class TestPartnerScope:
    def test_another_partners_cursor_only_positions_the_callers_own_rows(
        self, partner_client, other_partner_client, partner, other_partner, amounts
    ):
        theirs = CustomerFactory(partner=other_partner)
        for amount in ("100.00", "600.00", "800.00"):
            LoanApplicationFactory(customer=theirs, requested_amount=Decimal(amount))
        their_next = other_partner_client.get(f"{URL}?page_size=1&ordering=requested_amount").json()["next"]

        ids, _ = walk(partner_client, their_next)

        # Their cursor stands at 100.00: the caller gets its own rows from there, nothing of theirs.
        assert ids == expected(partner, "requested_amount", descending=False)
        assert not LoanApplication.objects.filter(pk__in=ids).exclude(partner=partner).exists()


class TestQueries:
    def test_two_statements_a_page_however_deep_and_no_distinct(self, partner_client, partner, amounts):
        LoanApplicationFactory.create_batch(6, customer=CustomerFactory(partner=partner))
        url = f"{URL}?page_size=3&status=submitted&status=manual_review&ordering=-requested_amount"
        counts = []
        while url:
            with CaptureQueriesContext(connection) as captured:
                body = partner_client.get(url).json()
            counts.append(len(captured))
            assert not any("DISTINCT" in query["sql"] or "COUNT(" in query["sql"] for query in captured)
            url = body["next"]

        assert counts == [2, 1, 1, 1, 1]  # API key once a process, the page (customer joined): 15 rows, 3 a page

    def test_the_status_filter_selects_without_distinct(self, partner_client, partner, amounts):
        LoanApplication.objects.filter(partner=partner, requested_amount=Decimal("900.00")).update(
            status=ApplicationStatus.MANUAL_REVIEW
        )

        ids, _ = walk(partner_client, f"{URL}?status=manual_review&status=approved&ordering=requested_amount")

        assert ids == [
            pk
            for pk in expected(partner, "requested_amount", descending=False)
            if LoanApplication.objects.get(pk=pk).status == ApplicationStatus.MANUAL_REVIEW
        ]
        assert len(ids) == 2
