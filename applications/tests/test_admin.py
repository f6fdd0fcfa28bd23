import re
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, Partner, PartnerAPIKey, Reviewer
from loanproject.core import topics
from loanproject.core.models import OutboxEvent

from .admin_pages import inline_post_data
from .factories import (
    CustomerFactory,
    LoanApplicationFactory,
    ManagerFactory,
    PartnerFactory,
    ReviewerFactory,
    StaffUserFactory,
    issue_key,
)

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url_name, make_rows",
    [
        (
            "admin:applications_loanapplication_changelist",
            lambda n, p: LoanApplicationFactory.create_batch(n, customer=CustomerFactory(partner=p)),
        ),
        ("admin:applications_customer_changelist", lambda n, p: CustomerFactory.create_batch(n, partner=p)),
        ("admin:applications_partner_changelist", lambda n, p: PartnerFactory.create_batch(n)),
        ("admin:applications_partnerapikey_changelist", lambda n, p: [issue_key(p) for _ in range(n)]),
        (
            "admin:core_outboxevent_changelist",
            lambda n, p: [
                OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id=str(i)) for i in range(n)
            ],
        ),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, url_name, make_rows):
    partner = PartnerFactory()
    make_rows(3, partner)
    few = queries_for(admin_client, reverse(url_name))

    make_rows(30, partner)
    many = queries_for(admin_client, reverse(url_name))

    assert many == few


def test_customer_list_shows_masked_pans_and_finds_a_customer_by_full_pan(admin_client):
    wanted = CustomerFactory(clear_pan="ABCDE1234F", full_name="Wanted Person")
    CustomerFactory(clear_pan="ZZZZZ9999Z", full_name="Someone Else")

    listing = admin_client.get(reverse("admin:applications_customer_changelist"))
    found = admin_client.get(reverse("admin:applications_customer_changelist"), {"q": "abcde1234f"})

    assert "XXXXXX234F" in listing.content.decode()
    assert "ABCDE1234F" not in listing.content.decode()
    assert list(found.context["cl"].result_list) == [wanted]


def test_adding_a_customer_goes_through_the_service_and_is_audited(admin_client, admin_user):
    partner = PartnerFactory()

    response = admin_client.post(
        reverse("admin:applications_customer_add"),
        {
            "partner": partner.pk,
            "external_ref": "C-9",
            "full_name": "New Person",
            "email": "new@example.com",
            "phone": "",
            "address": "",
            "pan": "fghij5678k",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get()
    assert customer.pan.reveal() == "FGHIJ5678K"
    entry = LogEntry.objects.get_for_object(customer).get()
    assert entry.actor == admin_user
    assert entry.changes_dict["pan"][1] == "XXXXXX678K"


def test_a_service_error_is_shown_on_the_form_and_saves_nothing(admin_client):
    existing = CustomerFactory(external_ref="C-1", clear_pan="ABCDE1234F")

    response = admin_client.post(
        reverse("admin:applications_customer_add"),
        {
            "partner": existing.partner.pk,
            "external_ref": "C-1",
            "full_name": "Impostor",
            "email": "x@example.com",
            "phone": "",
            "address": "",
            "pan": "QQQQQ1111Q",
        },
    )

    assert response.status_code == 200
    assert "already registered with a different PAN" in response.content.decode()
    existing.refresh_from_db()
    assert (Customer.objects.count(), existing.full_name) == (1, existing.full_name)
    assert existing.pan.reveal() == "ABCDE1234F"


def test_a_bad_pan_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:applications_customer_add"),
        {"external_ref": "", "full_name": "X", "email": "x@example.com", "phone": "", "address": "", "pan": "123"},
    )

    assert response.status_code == 200
    assert "Enter a valid PAN" in response.content.decode()
    assert Customer.objects.count() == 0


def test_staff_enter_an_application_for_an_existing_customer(admin_client):
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:applications_loanapplication_add"),
        {
            "customer": customer.pk,
            "external_ref": "",
            "requested_amount": "1500.00",
            "term_months": 12,
            "purpose": "vehicle",
            "annual_income": "40000",
            "employment_status": "employed",
            "employment_duration_months": 12,
            "existing_debts": "0",
            "monthly_debt_payments": "0",
            "credit_score": "",
            "total_payments": 0,
            "late_payments": 0,
            "utilization": "0",
            "credit_inquiries": 0,
            "credit_history_months": 0,
            "credit_mix": "[]",
            "repayment_history": "[]",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    application = LoanApplication.objects.get()
    assert (application.status, application.requested_amount, application.partner) == (
        ApplicationStatus.SUBMITTED,
        Decimal("1500.00"),
        customer.partner,
    )
    assert OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED, aggregate_id=str(application.pk)).exists()


def test_the_application_record_cannot_be_edited_in_the_form(admin_client):
    application = LoanApplicationFactory()
    url = reverse("admin:applications_loanapplication_change", args=[application.pk])

    page = admin_client.get(url)
    response = admin_client.post(url, inline_post_data(page))

    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 200
    assert "not awaiting your decision" in response.content.decode()
    application.refresh_from_db()
    assert application.version == 1


def test_withdraw_action(admin_client):
    open_one = LoanApplicationFactory()
    final_one = LoanApplicationFactory(status=ApplicationStatus.REJECTED)

    response = admin_client.post(
        reverse("admin:applications_loanapplication_changelist"),
        {"action": "withdraw", "_selected_action": [open_one.pk, final_one.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert "Withdrew 1 application(s)." in messages
    assert any("cannot become withdrawn" in m for m in messages)
    open_one.refresh_from_db()
    final_one.refresh_from_db()
    assert (open_one.status, open_one.version) == (ApplicationStatus.WITHDRAWN, 2)
    assert final_one.status == ApplicationStatus.REJECTED


def test_issue_api_key_action_shows_a_working_key_once(admin_client, client):
    partner = PartnerFactory()

    response = admin_client.post(
        reverse("admin:applications_partner_changelist"), {"action": "issue_api_key", "_selected_action": [partner.pk]}
    )

    key = re.search(r"<code>([A-Za-z0-9]{8}\.[A-Za-z0-9]+)</code>", response.content.decode()).group(1)
    assert PartnerAPIKey.objects.filter(partner=partner).count() == 1
    assert key not in PartnerAPIKey.objects.get().hashed_key
    assert client.get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_each_application_has_its_audit_history_page(admin_client):
    application = LoanApplicationFactory()
    change_url = reverse("admin:applications_loanapplication_change", args=[application.pk])
    history_url = reverse("admin:applications_loanapplication_auditlog", args=[application.pk])

    change_page = admin_client.get(change_url)
    history = admin_client.get(history_url)

    assert history_url in change_page.content.decode()
    assert history.status_code == 200
    assert len(history.context["log_entries"]) == 1


def test_an_auditor_reads_everything_and_changes_nothing(client):
    auditor = StaffUserFactory()
    auditor.groups.add(Group.objects.get(name="Auditor"))
    client.force_login(auditor)
    application = LoanApplicationFactory()

    listing = client.get(reverse("admin:applications_loanapplication_changelist"))
    add = client.get(reverse("admin:applications_loanapplication_add"))
    withdraw = client.post(
        reverse("admin:applications_loanapplication_changelist"),
        {"action": "withdraw", "_selected_action": [application.pk]},
    )

    assert listing.status_code == 200
    assert add.status_code == 403
    assert withdraw.status_code == 200  # no action is offered to them: the list again, unchanged
    assert listing.context["action_form"] is None
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert client.get(reverse("admin:auditlog_logentry_changelist")).status_code == 200


def business_records() -> dict:
    """One record of each business model with an admin, by its admin URL name."""
    partner = PartnerFactory()
    issue_key(partner)
    return {
        "applications_loanapplication": LoanApplicationFactory(customer=CustomerFactory(partner=partner)),
        "applications_customer": CustomerFactory(partner=partner),
        "applications_partner": partner,
        "applications_partnerapikey": PartnerAPIKey.objects.get(partner=partner),
        "applications_reviewer": ReviewerFactory(manager=ManagerFactory()),
    }


def record_counts() -> tuple:
    return tuple(model.objects.count() for model in (LoanApplication, Customer, Partner, PartnerAPIKey, Reviewer))


def test_business_records_cannot_be_deleted_from_the_admin(admin_client):
    records = business_records()
    before = record_counts()

    for name, record in records.items():
        changelist = admin_client.get(reverse(f"admin:{name}_changelist"))
        delete_page = admin_client.get(reverse(f"admin:{name}_delete", args=[record.pk]))
        confirmed = admin_client.post(reverse(f"admin:{name}_delete", args=[record.pk]), {"post": "yes"})
        bulk = admin_client.post(
            reverse(f"admin:{name}_changelist"),
            {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
        )
        change_page = admin_client.get(reverse(f"admin:{name}_change", args=[record.pk]))

        action_form = changelist.context["action_form"]
        actions = [value for value, _ in action_form.fields["action"].choices] if action_form else []
        assert "delete_selected" not in actions, name
        assert (delete_page.status_code, confirmed.status_code) == (403, 403), name
        # An unknown action is "no action selected" (back to the list); without actions, the list.
        assert bulk.status_code == (302 if action_form else 200), name
        assert reverse(f"admin:{name}_delete", args=[record.pk]) not in change_page.content.decode(), name

    assert record_counts() == before


def test_staff_find_a_customer_by_phone_however_they_type_it(admin_client):
    wanted = CustomerFactory(phone="+12125550101")
    CustomerFactory(phone="+12125550102")

    found = admin_client.get(reverse("admin:applications_customer_changelist"), {"q": "+1 (212) 555-0101"})

    assert list(found.context["cl"].result_list) == [wanted]


def test_a_phone_shaped_term_still_finds_a_customer_by_ref(admin_client):
    wanted = CustomerFactory(external_ref="2024-0001", phone="+12125550101")

    found = admin_client.get(reverse("admin:applications_customer_changelist"), {"q": "2024-0001"})

    assert list(found.context["cl"].result_list) == [wanted]


def test_a_customer_added_in_the_admin_is_stored_normalised(admin_client):
    response = admin_client.post(
        reverse("admin:applications_customer_add"),
        {
            "external_ref": "",
            "full_name": "New Person",
            "email": " New@Example.COM",
            "phone": "+1 212 555 0199",
            "address": "",
            "push_token": "",
            "pan": "fghij5678k",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Customer.objects.values_list("email", "phone").get() == ("new@example.com", "+12125550199")
