import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from applications import services
from applications.api import authentication
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication
from loanproject.core import topics
from loanproject.core.models import IdempotencyKey, OutboxEvent

from .conftest import _client_for
from .factories import CustomerFactory, LoanApplicationFactory
from .payloads import application_payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


class TestSubmit:
    def test_accepted_with_id_status_and_location(self, partner_client, partner):
        response = post(partner_client, application_payload())

        assert response.status_code == 202
        application = LoanApplication.objects.get()
        assert response.json() == {
            "id": str(application.pk),
            "external_ref": "APP-1",
            "status": "submitted",
            "version": 1,
            "submitted_at": response.json()["submitted_at"],
        }
        assert response["Location"] == f"http://testserver{URL}{application.pk}/"
        assert application.partner == partner
        assert application.requested_amount == Decimal("25000.00")
        assert application.utilization == Decimal("30.00")
        assert application.repayment_history == [
            {"month": "2026-01", "status": "on_time"},
            {"month": "2026-02", "status": "late_30"},
        ]
        assert OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED).count() == 1

    def test_numbers_are_read_as_exact_decimals(self, partner_client):
        body = application_payload(requested_amount=0.1 + 0.2)  # 0.30000000000000004 as JSON
        raw = json.dumps(body).replace("0.30000000000000004", "1234.10")

        response = partner_client.post(URL, data=raw, content_type="application/json")

        assert response.status_code == 202
        assert LoanApplication.objects.get().requested_amount == Decimal("1234.10")

    @pytest.mark.parametrize(
        "overrides, field",
        [
            ({"requested_amount": "0"}, "requested_amount"),
            ({"requested_amount": "10.005"}, "requested_amount"),
            ({"requested_amount": "lots"}, "requested_amount"),
            ({"purpose": "yacht"}, "purpose"),
            ({"credit_score": 950}, "credit_score"),
            ({"utilization": "101"}, "utilization"),
            ({"late_payments": 101}, "late_payments"),
            ({"credit_mix": ["credit_card", "credit_card"]}, "credit_mix"),
            ({"credit_mix": ["lottery"]}, "credit_mix.0"),
            ({"repayment_history": [{"month": "2026-13", "status": "on_time"}]}, "repayment_history.0.month"),
            ({"repayment_history": [{"month": "2026-01", "status": "fine", "x": 1}]}, "repayment_history.0.x"),
            ({"unexpected": True}, "unexpected"),
            ({"term_months": "many"}, "term_months"),
        ],
    )
    def test_bad_input_is_a_400_with_the_field_named(self, partner_client, overrides, field):
        response = post(partner_client, application_payload(**overrides))

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["status"] == 400
        assert error["code"] == "validation_error"
        assert field in error["fields"], error["fields"]
        assert LoanApplication.objects.count() == 0
        assert Customer.objects.count() == 0

    def test_bad_pan_is_a_400_on_the_customer_pan(self, partner_client):
        body = application_payload()
        body["customer"]["pan"] = "12345ABCDE"

        response = post(partner_client, body)

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["customer.pan"]

    def test_malformed_json_is_a_400(self, partner_client):
        response = partner_client.post(URL, data="{not json", content_type="application/json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parse_error"

    def test_contact_details_are_stored_normalised_and_a_push_token_kept(self, partner_client):
        body = application_payload()
        body["customer"].update(email=" Asha@Example.COM", phone="+1 (212) 555-0101", push_token="device-1")
        post(partner_client, body)
        again = application_payload(external_ref="APP-2")  # the same customer, no token this time

        response = post(partner_client, again)

        assert response.status_code == 202
        assert Customer.objects.values_list("email", "phone", "push_token").get() == (
            "asha@example.com",
            "+12125550101",
            "device-1",
        )

    def test_a_push_token_longer_than_a_notification_recipient_is_a_400(self, partner_client):
        body = application_payload()
        body["customer"]["push_token"] = "t" * 255

        response = post(partner_client, body)

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["customer.push_token"]
        assert (Customer.objects.count(), LoanApplication.objects.count()) == (0, 0)

    def test_duplicate_external_ref_is_a_409(self, partner_client):
        post(partner_client, application_payload())

        response = post(partner_client, application_payload())

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "application_exists"
        assert LoanApplication.objects.count() == 1


class TestIdempotency:
    def test_replaying_a_key_returns_the_first_answer_and_creates_nothing(self, partner_client):
        first = post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="key-1")

        replay = post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="key-1")

        assert (first.status_code, replay.status_code) == (202, 202)
        assert replay.json() == first.json()
        assert replay["Location"] == first["Location"]
        assert replay["Idempotent-Replayed"] == "true"
        assert LoanApplication.objects.count() == 1
        assert OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED).count() == 1

    def test_key_order_in_the_body_does_not_matter(self, partner_client):
        body = application_payload()
        post(partner_client, body, HTTP_IDEMPOTENCY_KEY="key-1")
        reordered = dict(reversed(list(body.items())))

        replay = post(partner_client, reordered, HTTP_IDEMPOTENCY_KEY="key-1")

        assert replay.status_code == 202
        assert LoanApplication.objects.count() == 1

    def test_same_key_with_another_body_is_a_409(self, partner_client):
        post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="key-1")

        response = post(partner_client, application_payload(requested_amount="999.00"), HTTP_IDEMPOTENCY_KEY="key-1")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert LoanApplication.objects.get().requested_amount == Decimal("25000.00")

    def test_keys_belong_to_one_partner(self, partner_client, other_partner_client):
        post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="shared-key")

        response = post(other_partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="shared-key")

        assert response.status_code == 202
        assert LoanApplication.objects.count() == 2
        assert IdempotencyKey.objects.count() == 2

    def test_a_failed_request_does_not_burn_the_key(self, partner_client):
        bad = post(partner_client, application_payload(purpose="yacht"), HTTP_IDEMPOTENCY_KEY="key-1")

        good = post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="key-1")

        assert (bad.status_code, good.status_code) == (400, 202)

    def test_an_overlong_key_is_a_400(self, partner_client):
        response = post(partner_client, application_payload(), HTTP_IDEMPOTENCY_KEY="k" * 256)

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["fields"]
        assert LoanApplication.objects.count() == 0


class TestRead:
    def test_detail_shows_status_decision_reasons_and_masked_pan(self, partner_client, partner):
        application = LoanApplicationFactory(
            customer=CustomerFactory(partner=partner, clear_pan="ABCDE1234F"),
            status=ApplicationStatus.REJECTED,
            decision="rejected",
            risk_level="high",
            reasons=[{"code": "R01", "text": "Debt-to-income ratio too high"}],
        )

        response = partner_client.get(f"{URL}{application.pk}/")

        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["decision"], body["risk_level"]) == ("rejected", "rejected", "high")
        assert body["reasons"] == [{"code": "R01", "text": "Debt-to-income ratio too high"}]
        assert body["customer"]["pan_masked"] == "XXXXXX234F"
        assert body["requested_amount"] == "10000.00"
        assert "ABCDE1234F" not in response.content.decode()

    def test_list_filters_by_status_risk_amount_and_dates(self, partner_client, partner):
        customer = CustomerFactory(partner=partner)
        now = timezone.now()
        small = LoanApplicationFactory(customer=customer, requested_amount=Decimal("500.00"), risk_level="low")
        large = LoanApplicationFactory(
            customer=customer,
            requested_amount=Decimal("50000.00"),
            status=ApplicationStatus.MANUAL_REVIEW,
            risk_level="high",
            submitted_at=now - timedelta(days=10),
        )

        def ids(query: str) -> list[str]:
            response = partner_client.get(f"{URL}?{query}")
            assert response.status_code == 200, response.json()
            return [row["id"] for row in response.json()["results"]]

        assert ids("status=manual_review") == [str(large.pk)]
        assert ids("status=manual_review&status=submitted") == [str(small.pk), str(large.pk)]
        assert ids("risk_level=low") == [str(small.pk)]
        assert ids("min_amount=1000") == [str(large.pk)]
        assert ids("max_amount=500.00") == [str(small.pk)]
        assert ids(f"submitted_before={(now - timedelta(days=1)).isoformat().replace('+', '%2B')}") == [str(large.pk)]
        assert ids(f"submitted_after={(now - timedelta(days=1)).isoformat().replace('+', '%2B')}") == [str(small.pk)]
        assert ids("ordering=requested_amount") == [str(small.pk), str(large.pk)]
        assert ids("ordering=-requested_amount") == [str(large.pk), str(small.pk)]

    def test_bad_filter_values_are_a_400(self, partner_client):
        response = partner_client.get(f"{URL}?status=lost&min_amount=abc")

        assert response.status_code == 400
        assert set(response.json()["error"]["fields"]) == {"status", "min_amount"}

    def test_list_is_paged_by_cursor(self, partner_client, partner):
        LoanApplicationFactory.create_batch(3, customer=CustomerFactory(partner=partner))

        body = partner_client.get(f"{URL}?page_size=2").json()

        assert set(body) == {"next", "previous", "results"}  # no count: it would scan the partner's rows
        assert (len(body["results"]), body["previous"]) == (2, None)
        assert "cursor=" in body["next"] and "page_size=2" in body["next"]
        last = partner_client.get(body["next"]).json()
        assert (len(last["results"]), last["next"]) == (1, None)

    def test_list_query_count_does_not_grow_with_rows(self, partner_client, partner, django_assert_num_queries):
        customer = CustomerFactory(partner=partner)
        LoanApplicationFactory.create_batch(2, customer=customer)
        partner_client.get(URL)  # the process knows the key from now on
        with django_assert_num_queries(1):  # the page (customers joined); no count
            assert len(partner_client.get(URL).json()["results"]) == 2

        LoanApplicationFactory.create_batch(25, customer=CustomerFactory(partner=partner))
        with django_assert_num_queries(1):
            assert len(partner_client.get(URL).json()["results"]) == 27

    def test_stats_count_every_status_and_rank_customers(self, partner_client, partner):
        big = CustomerFactory(partner=partner, full_name="Big Spender")
        small = CustomerFactory(partner=partner, full_name="Small Saver")
        LoanApplicationFactory(customer=big, status=ApplicationStatus.APPROVED, approved_amount=Decimal("7000.00"))
        LoanApplicationFactory(customer=big, status=ApplicationStatus.BOOKED, approved_amount=Decimal("3000.50"))
        LoanApplicationFactory(customer=small, status=ApplicationStatus.APPROVED, approved_amount=Decimal("500.00"))
        LoanApplicationFactory(customer=small, status=ApplicationStatus.REJECTED)
        LoanApplicationFactory(status=ApplicationStatus.APPROVED, approved_amount=Decimal("99999.00"))  # other partner

        body = partner_client.get(f"{URL}stats/").json()

        assert body["by_status"] == {
            "submitted": 0,
            "scoring": 0,
            "pre_approved": 0,
            "manual_review": 0,
            "approved": 2,
            "rejected": 1,
            "withdrawn": 0,
            "booked": 1,
        }
        assert body["top_customers"] == [
            {
                "customer_id": big.pk,
                "external_ref": big.external_ref,
                "full_name": "Big Spender",
                "approved_total": "10000.50",
                "approved_applications": 2,
            },
            {
                "customer_id": small.pk,
                "external_ref": small.external_ref,
                "full_name": "Small Saver",
                "approved_total": "500.00",
                "approved_applications": 1,
            },
        ]

    def test_stats_are_computed_once_a_minute_per_partner_and_filters(
        self, partner_client, partner, other_partner_client, other_partner, django_assert_num_queries
    ):
        customer = CustomerFactory(partner=partner)
        LoanApplicationFactory(customer=customer, status=ApplicationStatus.APPROVED, approved_amount=Decimal("10.00"))
        LoanApplicationFactory(status=ApplicationStatus.REJECTED, customer=CustomerFactory(partner=other_partner))

        with django_assert_num_queries(4):  # API key, counts, top customers (by id), their names
            first = partner_client.get(f"{URL}stats/").json()
        LoanApplicationFactory(customer=customer, status=ApplicationStatus.REJECTED)
        with django_assert_num_queries(0):  # the process knows the key; the figures come from the cache
            again = partner_client.get(f"{URL}stats/").json()
        filtered = partner_client.get(f"{URL}stats/?status=rejected").json()
        theirs = other_partner_client.get(f"{URL}stats/").json()

        assert again == first
        assert (first["by_status"]["approved"], first["by_status"]["rejected"]) == (1, 0)
        assert (filtered["by_status"]["approved"], filtered["by_status"]["rejected"]) == (0, 1)
        assert (theirs["by_status"]["approved"], theirs["by_status"]["rejected"], theirs["top_customers"]) == (0, 1, [])
        cache.clear()  # a minute later
        assert partner_client.get(f"{URL}stats/").json()["by_status"]["rejected"] == 1


class TestPartnerIsolation:
    def test_another_partners_application_is_404_everywhere(self, partner_client, other_partner):
        theirs = LoanApplicationFactory(customer=CustomerFactory(partner=other_partner))

        detail = partner_client.get(f"{URL}{theirs.pk}/")
        withdraw = partner_client.post(f"{URL}{theirs.pk}/withdraw/", {"version": 1}, format="json")
        listing = partner_client.get(URL).json()
        stats = partner_client.get(f"{URL}stats/").json()

        assert (detail.status_code, withdraw.status_code) == (404, 404)
        assert detail.json()["error"]["code"] == "not_found"
        assert listing["results"] == []
        assert sum(stats["by_status"].values()) == 0
        theirs.refresh_from_db()
        assert theirs.status == ApplicationStatus.SUBMITTED

    def test_no_key_or_a_bad_key_is_401(self, client, partner):
        assert client.get(URL).status_code == 401
        response = client.get(URL, HTTP_AUTHORIZATION="Api-Key nope.nope")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"

    def test_a_revoked_key_or_inactive_partner_is_401(self, partner, other_partner):
        revoked_client, inactive_client = _client_for(partner), _client_for(other_partner)
        services.revoke_partner_api_key(api_key_id=partner.api_keys.get().pk)
        services.update_partner(
            partner_id=other_partner.pk, name="Rival Credit", contact_email=other_partner.contact_email, is_active=False
        )

        revoked = revoked_client.get(URL)
        inactive = inactive_client.get(URL)

        assert (revoked.status_code, revoked.json()["error"]["message"]) == (401, "Invalid API key.")
        assert (inactive.status_code, inactive.json()["error"]["message"]) == (401, "This partner is not active.")
        assert {revoked.json()["error"]["code"], inactive.json()["error"]["code"]} == {"authentication_failed"}

    def test_a_key_this_process_verified_is_refused_once_its_cache_time_passes(
        self, partner_client, partner, other_partner_client, other_partner, monkeypatch
    ):
        assert (partner_client.get(URL).status_code, other_partner_client.get(URL).status_code) == (200, 200)
        services.revoke_partner_api_key(api_key_id=partner.api_keys.get().pk)
        services.update_partner(
            partner_id=other_partner.pk, name="Rival Credit", contact_email=other_partner.contact_email, is_active=False
        )

        within = (partner_client.get(URL).status_code, other_partner_client.get(URL).status_code)
        later = time.monotonic() + settings.PARTNER_API_KEY_CACHE_SECONDS + 0.1
        monkeypatch.setattr(authentication.time, "monotonic", lambda: later)
        revoked = partner_client.get(URL)
        inactive = other_partner_client.get(URL)

        assert within == (200, 200)
        assert (revoked.status_code, revoked.json()["error"]["message"]) == (401, "Invalid API key.")
        assert (inactive.status_code, inactive.json()["error"]["message"]) == (401, "This partner is not active.")


class TestWithdraw:
    def test_withdraw_with_current_version(self, partner_client, partner):
        application = LoanApplicationFactory(customer=CustomerFactory(partner=partner))

        response = partner_client.post(
            f"{URL}{application.pk}/withdraw/", {"version": 1, "reason": "no longer needed"}, format="json"
        )

        assert response.status_code == 200
        assert (response.json()["status"], response.json()["version"]) == ("withdrawn", 2)

    def test_stale_version_is_a_409_and_changes_nothing(self, partner_client, partner):
        application = LoanApplicationFactory(customer=CustomerFactory(partner=partner), version=2)

        response = partner_client.post(f"{URL}{application.pk}/withdraw/", {"version": 1}, format="json")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "stale_version"
        application.refresh_from_db()
        assert (application.status, application.version) == (ApplicationStatus.SUBMITTED, 2)

    def test_withdrawing_a_final_application_is_a_409(self, partner_client, partner):
        application = LoanApplicationFactory(
            customer=CustomerFactory(partner=partner), status=ApplicationStatus.BOOKED, approved_amount=Decimal("1.00")
        )

        response = partner_client.post(f"{URL}{application.pk}/withdraw/", {"version": 1}, format="json")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "illegal_transition"


def test_throttling_is_per_partner(partner_client, other_partner_client, settings):
    settings.PARTNER_THROTTLE_RATE = "3/min"
    cache.clear()

    codes = [partner_client.get(URL).status_code for _ in range(4)]
    other = other_partner_client.get(URL)

    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200


def test_unknown_api_url_is_a_json_404(partner_client):
    response = partner_client.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found.", "fields": {}}}


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/applications/" in schema.content
    assert b"PartnerApiKey" in schema.content
    assert docs.status_code == 200
