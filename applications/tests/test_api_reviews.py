from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from applications.lifecycle import ApplicationStatus

from .factories import LoanApplicationFactory, ManagerFactory, ReviewerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def officer():
    reviewer = ReviewerFactory(manager=ManagerFactory())
    reviewer.user.groups.add(Group.objects.get(name="Loan officer"))
    return reviewer


def test_the_queue_lists_my_applications_in_review_confirmations_first(officer, django_assert_num_queries):
    mine = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user)
    confirm = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, proposed_amount=Decimal("9000.00")
    )
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)  # someone else's
    client = client_for(officer.user)

    with django_assert_num_queries(5):  # token, user permissions, group permissions, count, page
        body = client.get("/api/v1/reviews/queue/").json()

    assert [row["id"] for row in body["results"]] == [str(confirm.pk), str(mine.pk)]
    assert body["results"][0]["awaiting_confirmation"] is True
    assert body["results"][0]["proposed_amount"] == "9000.00"


def test_approve_through_the_api(officer):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, requested_amount=Decimal("8000.00")
    )

    response = client_for(officer.user).post(
        f"/api/v1/reviews/{application.pk}/decision/",
        {"version": 1, "decision": "approve", "comment": "ok"},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["approved_amount"], response.json()["version"]) == (
        "approved",
        "8000.00",
        2,
    )


def test_staff_read_the_specific_referral_reasons_the_partner_reads_as_generic(officer, partner_client, partner):
    flagged = [{"code": "M01", "text": "Possible duplicate or fraud: email_shared"}]
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, customer__partner=partner, reasons=flagged
    )
    client = client_for(officer.user)

    queue = client.get("/api/v1/reviews/queue/").json()["results"]
    decided = client.post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve"}, format="json"
    )
    partner_view = partner_client.get(f"/api/v1/applications/{application.pk}/").json()

    assert [row["reasons"] for row in queue] == [flagged]
    assert (decided.status_code, decided.json()["reasons"]) == (200, flagged)
    assert (partner_view["status"], partner_view["reasons"]) == (
        "approved",
        [{"code": "M00", "text": "Referred to a reviewer"}],
    )


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"amount": "８０００"}, "amount"),
        ({"amount": "8_000"}, "amount"),
        ({"amount": "8e3"}, "amount"),
        ({"interest_rate": "١٢"}, "interest_rate"),
        ({"version": "1_0"}, "version"),
    ],
)
def test_a_decision_reads_numbers_strictly(officer, changes, field):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, requested_amount=Decimal("8000.00")
    )

    response = client_for(officer.user).post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve", **changes}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    application.refresh_from_db()
    assert (application.status, application.version) == (ApplicationStatus.MANUAL_REVIEW, 1)


def test_a_stale_decision_is_a_409(officer):
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, version=2)

    response = client_for(officer.user).post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale_version"


def test_a_rejection_needs_a_reason_code(officer):
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user)
    client = client_for(officer.user)

    missing = client.post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "reject"}, format="json"
    )
    given = client.post(
        f"/api/v1/reviews/{application.pk}/decision/",
        {"version": 1, "decision": "reject", "reason_code": "R06"},
        format="json",
    )

    assert missing.status_code == 400
    assert list(missing.json()["error"]["fields"]) == ["reason_code"]
    assert given.status_code == 200
    assert given.json()["reasons"] == [{"code": "R06", "text": "Income could not be verified"}]


def test_staff_without_the_review_role_get_403(officer):
    clerk = StaffUserFactory()
    clerk.groups.add(Group.objects.get(name="Finance"))
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    queue = client_for(clerk).get("/api/v1/reviews/queue/")
    decision = client_for(clerk).post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve"}, format="json"
    )

    assert (queue.status_code, decision.status_code) == (403, 403)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MANUAL_REVIEW


def test_a_partner_key_does_not_open_the_staff_api(partner_client):
    assert partner_client.get("/api/v1/reviews/queue/").status_code == 401


def test_four_eyes_over_the_api(officer):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        assigned_to=officer.user,
        requested_amount=Decimal("50000.00"),
        annual_income=Decimal("300000.00"),
    )
    client = client_for(officer.user)
    proposed = client.post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve"}, format="json"
    )

    again = client.post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 2, "decision": "approve"}, format="json"
    )

    assert proposed.status_code == 200 and proposed.json()["status"] == "manual_review"
    assert again.status_code == 403
    assert "Four eyes" in again.json()["error"]["message"]


def test_a_decision_over_the_api_is_audited_with_the_reviewer(officer):
    from auditlog.models import LogEntry

    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, requested_amount=Decimal("1000.00")
    )

    client_for(officer.user).post(
        f"/api/v1/reviews/{application.pk}/decision/", {"version": 1, "decision": "approve"}, format="json"
    )

    entry = LogEntry.objects.get_for_object(application).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == officer.user
