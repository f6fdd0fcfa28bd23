"""The doors of late fees: the admin list and its waiver action, the staff API's waiver endpoint."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.tests.factories import StaffUserFactory
from loanproject.core.models import ApprovalRequest
from loans import services
from loans.models import LateFee

from .conftest import week
from .factories import SUNDAY, LeaseFactory, api, book_from_product, make_product, staff

pytestmark = pytest.mark.django_db

D = Decimal


def charged_fees(loans: int) -> list[LateFee]:
    product = make_product(min_annual_rate=D("0"), late_fee_kind="flat", late_fee_amount=D("25.00"))
    officer = StaffUserFactory()
    for _ in range(loans):
        book_from_product(product, rate="0", lease=LeaseFactory(), created_by=officer)
    services.post_weekly_installments(**week(SUNDAY))
    services.charge_late_fees(as_of=date(2026, 1, 5))
    return list(LateFee.objects.order_by("pk"))


def test_the_api_asks_and_a_second_person_approves():
    (fee,) = charged_fees(1)
    maker, checker = api(staff("Finance", "maker")), api(staff("Finance", "checker"))
    url = f"/api/v1/late-fees/{fee.pk}/waiver/"

    asked = maker.post(url, {"reason": "Hospital stay"}, format="json")
    twice = maker.post(url, {"reason": "Hospital stay"}, format="json")
    own = maker.post(f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, format="json")
    approved = checker.post(f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, format="json")

    assert (asked.status_code, asked.json()["status"], asked.json()["amount"]) == (202, "pending", "25.00")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "approval_already_requested")
    assert own.status_code == 403
    assert approved.status_code == 200, approved.json()
    assert approved.json()["result"]["waived"] == "25.00"
    fee.refresh_from_db()
    assert (fee.status, fee.waived_by.username) == ("waived", "checker")


@pytest.mark.parametrize(
    "body, path_id, role, status",
    [
        ({}, None, "Finance", 400),  # no reason
        ({"reason": ""}, None, "Finance", 400),
        ({"reason": "x", "extra": 1}, None, "Finance", 400),  # unknown field
        ({"reason": "x"}, 999999, "Finance", 404),
        ({"reason": "x"}, None, "Loan manager", 403),
        ({"reason": "x"}, None, "Auditor", 403),
    ],
)
def test_the_api_refuses_bad_input_and_roles_without_the_permission(body, path_id, role, status):
    (fee,) = charged_fees(1)

    response = api(staff(role, "someone")).post(f"/api/v1/late-fees/{path_id or fee.pk}/waiver/", body, format="json")

    assert response.status_code == status
    assert not ApprovalRequest.objects.exists()


def test_the_admin_list_does_not_query_per_row(admin_client):
    charged_fees(1)
    url = reverse("admin:loans_latefee_changelist")
    admin_client.get(url)

    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    charged_fees(6)
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(url)

    assert page.content.decode().count("25.00") >= 7
    assert len(many) == len(few)


def test_the_admin_action_asks_for_a_reason_then_requests_each_waiver(client):
    first, second = charged_fees(2)
    maker = staff("Finance", "maker")
    client.force_login(maker)
    url = reverse("admin:loans_latefee_changelist")
    selected = {"action": "ask_to_waive", "_selected_action": [first.pk, second.pk]}

    asked = client.post(url, selected)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert not ApprovalRequest.objects.exists()
    blank = client.post(url, {**selected, "apply": "1", "reason": ""})
    assert blank.status_code == 200 and not ApprovalRequest.objects.exists()

    done = client.post(url, {**selected, "apply": "1", "reason": "Storm closed the bridges"}, follow=True)

    assert done.status_code == 200
    requests = ApprovalRequest.objects.order_by("pk")
    assert [(r.target, r.reason, r.status, r.requested_by) for r in requests] == [
        (f"loans.late_fee:{first.pk}", "Storm closed the bridges", "pending", maker),
        (f"loans.late_fee:{second.pk}", "Storm closed the bridges", "pending", maker),
    ]


def test_the_admin_action_is_offered_only_with_the_permission(client):
    charged_fees(1)
    client.force_login(staff("Loan manager", "manager"))
    page = client.get(reverse("admin:loans_latefee_changelist"))
    assert page.status_code == 200
    assert "ask_to_waive" not in page.content.decode()
    client.force_login(staff("Finance", "fiona"))
    assert "ask_to_waive" in client.get(reverse("admin:loans_latefee_changelist")).content.decode()


def test_the_loan_keeps_its_grace_on_its_page(admin_client):
    (fee,) = charged_fees(1)
    page = admin_client.get(reverse("admin:loans_driverloan_change", args=[fee.loan_id]))
    assert page.status_code == 200
    assert "Late fee kind" in page.content.decode()
