"""The reviewer's page: an application in review opens on a summary of what scoring found, the
decision form beside it, and "Save and open next in my queue" after the decision."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import INFO, SUCCESS
from django.urls import reverse
from django.utils import timezone

from agents.services import score_applications
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, ReviewDecision
from applications.tests.admin_pages import inline_post_data
from applications.tests.factories import (
    CustomerFactory,
    LoanApplicationFactory,
    ManagerFactory,
    ReviewerFactory,
    StaffUserFactory,
)

from .factories import strong_application

# Scoring needs the active policy, which a transactional test elsewhere may have flushed.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("scoring_policy")]

CHANGELIST = reverse("admin:applications_loanapplication_changelist")


@pytest.fixture
def officer_client(client):
    officer = ReviewerFactory(manager=ManagerFactory(), approval_limit=Decimal("50000.00"))
    officer.user.groups.add(Group.objects.get(name="Loan officer"))
    client.force_login(officer.user)
    client.officer = officer
    return client


def change_url(application) -> str:
    return reverse("admin:applications_loanapplication_change", args=[application.pk])


def referred_application(officer_user):
    """Scored by the pipeline: 30,000.00 is above the pre-approval limit (M03) and the e-mail is
    shared with another PAN (M01, email_shared): manual review, then put in the officer's queue."""
    customer = CustomerFactory(email="shared@example.com", full_name="Asha Rao")
    application = strong_application(customer=customer, requested_amount=Decimal("30000.00"))
    score_applications(application_ids=[application.pk])
    LoanApplication.objects.filter(pk=application.pk).update(assigned_to=officer_user)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MANUAL_REVIEW
    return application


def table(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with `caption`, each a list of its cells' text."""
    body = html.split(f"<caption>{caption}</caption>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in rows
    ]


def decision_post(page, **fields) -> dict:
    return {
        **inline_post_data(page),
        "outcome": "approve",
        "amount": "",
        "rate": "",
        "reason_code": "",
        "comment": "",
        "seen_version": str(page.context["original"].version),
        **fields,
    }


class TestSummary:
    def test_opens_on_the_summary_with_every_reason_and_flag_beside_the_decision(self, officer_client):
        other = CustomerFactory(email="shared@example.com", full_name="Other Holder")
        earlier = LoanApplicationFactory(customer=other, status=ApplicationStatus.REJECTED)
        application = referred_application(officer_client.officer.user)

        html = officer_client.get(change_url(application)).content.decode()

        assert table(html, "Applicant and request")[2:] == [
            ["Amount and term", "30000.00 over 24 months (vehicle): 1398.24 a month"],
            ["Scored offer", "no amount pre-approved; rate 7.50 % a year"],
            ["Status", f"Manual review, assigned to {officer_client.officer.user.username}"],
        ]
        assert table(html, "Score, risk and affordability (scoring run 1, policy v1)") == [
            ["Credit score", "809 (Excellent, bureau score supplied)"],
            ["Risk", "Low, score 22.88 of 100"],
            ["Debt to income", "25.31 % with all debts; 18.64 % for this loan alone"],
            ["Monthly income", "declared 7500.00; no bank data: unverified"],
        ]
        assert table(html, "Reasons and flags")[1:] == [
            [
                "M01",
                "Possible duplicate or fraud: email_shared",
                "fraud_checks",
                "E-mail shared with other PANs: 1 (fraud score 25)",
            ],
            [
                "M03",
                "Amount above the automatic pre-approval limit",
                "decision",
                "Requested 30000.00 > pre-approval limit 25000.00",
            ],
            ["email_shared", "E-mail shared with other PANs", "fraud_checks", "E-mail shared with other PANs: 1"],
        ]
        assert [row[:2] for row in table(html, "What each agent found")[1:]] == [
            [name, "success"]
            for name in (
                "bureau",
                "credit_scoring",
                "affordability",
                "income_verification",
                "fraud_checks",
                "risk_assessment",
                "decision",
            )
        ]
        assert table(html, "Related applications: same PAN, e-mail or phone")[1:] == [
            [
                str(earlier.pk)[:8],
                "Other Holder",
                "e-mail",
                "Rejected",
                "10000.00",
                timezone.localtime(earlier.submitted_at).strftime("%Y-%m-%d %H:%M"),
            ]
        ]
        # Credit mix and repayment history read as lists and tables, here and in the folded record.
        assert table(html, "Months by status (1 in all)") == [["Status", "Months"], ["On time", "1"]]
        assert "<li>Credit card</li><li>Auto loan</li><li>Mortgage</li><li>Student loan</li>" in html
        assert '[{"month"' not in html and '["credit_card"' not in html
        # The decision form beside the summary, the record folded below.
        summary, decision = html.index('class="review-summary"'), html.index('class="review-decision"')
        record = html.index('<details class="review-record">')
        assert summary < decision < html.index('name="outcome"') < html.index('name="_savenext"') < record
        assert html.index("Credit data</h2>") > record  # the record's own fieldsets are folded

    def test_the_page_reads_a_fixed_number_of_queries(self, officer_client, django_assert_num_queries):
        application = referred_application(officer_client.officer.user)
        LoanApplicationFactory.create_batch(12, customer=application.customer, status=ApplicationStatus.WITHDRAWN)

        # Session, user, the application with its relations, two for permissions, the three folded
        # inlines (review decisions, analytics, runs: four), the latest run with its analytics
        # and its agents' results (two), the related applications (one).
        with django_assert_num_queries(12):
            response = officer_client.get(change_url(application))

        assert response.status_code == 200

    def test_a_reader_who_cannot_decide_sees_the_summary_and_no_form(self, client):
        auditor = StaffUserFactory(username="audrey")
        auditor.groups.add(Group.objects.get(name="Auditor"))
        client.force_login(auditor)
        application = referred_application(ReviewerFactory().user)

        html = client.get(change_url(application)).content.decode()

        assert "Reasons and flags" in html
        assert "You cannot decide applications" in html
        assert 'name="outcome"' not in html and 'name="_savenext"' not in html


class TestRelatedApplications:
    def test_same_pan_e_mail_or_phone_newest_first_and_bounded(self, django_assert_num_queries):
        from applications.selectors import related_applications

        customer = CustomerFactory(email="a@example.com", phone="+12125550100")
        application = LoanApplicationFactory(customer=customer)
        now = timezone.now()
        same_pan = CustomerFactory(pan=customer.pan, pan_hash=customer.pan_hash, email="b@example.com", phone="")
        same_phone = CustomerFactory(email="c@example.com", phone="+12125550100")
        same_email = CustomerFactory(email="a@example.com", phone="+12125550999")
        stranger = CustomerFactory(email="d@example.com", phone="+12125550888")
        own = LoanApplicationFactory(customer=customer, submitted_at=now - timedelta(days=1))
        by_pan = LoanApplicationFactory(customer=same_pan, submitted_at=now - timedelta(days=2))
        by_phone = LoanApplicationFactory(customer=same_phone, submitted_at=now - timedelta(days=3))
        by_email = LoanApplicationFactory(customer=same_email, submitted_at=now - timedelta(days=4))
        LoanApplicationFactory(customer=stranger)
        application = LoanApplication.objects.select_related("customer").get(pk=application.pk)

        with django_assert_num_queries(1):
            related, more = related_applications(application)
            shown = [(row.application.pk, row.shares) for row in related]

        assert shown == [
            (own.pk, ("PAN", "e-mail", "phone")),
            (by_pan.pk, ("PAN",)),
            (by_phone.pk, ("phone",)),
            (by_email.pk, ("e-mail",)),
        ]
        assert more is False
        assert related_applications(application, limit=3)[1] is True

    def test_the_filtered_changelist_lists_them_all(self, officer_client):
        customer = CustomerFactory(email="a@example.com")
        application = LoanApplicationFactory(customer=customer, status=ApplicationStatus.MANUAL_REVIEW)
        siblings = LoanApplicationFactory.create_batch(11, customer=customer, status=ApplicationStatus.WITHDRAWN)
        LoanApplicationFactory()

        html = officer_client.get(change_url(application)).content.decode()
        response = officer_client.get(CHANGELIST, {"related_to": str(application.pk)})

        assert (
            f'href="{CHANGELIST}?related_to={application.pk}">All related applications</a> (the newest 10 are shown)'
            in html
        )
        assert {row.pk for row in response.context["cl"].result_list} == {row.pk for row in siblings}
        assert f"Same PAN, e-mail or phone as {str(application.pk)[:8]}" in response.content.decode()

    def test_an_unknown_application_filters_to_nothing(self, officer_client):
        LoanApplicationFactory()

        response = officer_client.get(CHANGELIST, {"related_to": "not-an-id"})

        assert list(response.context["cl"].result_list) == []


class TestNextInQueue:
    def queue(self, user, *ages_in_hours):
        now = timezone.now()
        return [
            LoanApplicationFactory(
                status=ApplicationStatus.MANUAL_REVIEW, assigned_to=user, submitted_at=now - timedelta(hours=age)
            )
            for age in ages_in_hours
        ]

    def test_walks_the_queue_list_order_and_wraps_to_its_top(self, django_assert_num_queries):
        from applications.selectors import next_in_admin_queue

        user = ReviewerFactory().user
        newest, middle, oldest = self.queue(user, 1, 2, 3)
        LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=ReviewerFactory().user)
        LoanApplicationFactory(status=ApplicationStatus.PRE_APPROVED, assigned_to=user)

        with django_assert_num_queries(1):
            after_newest = next_in_admin_queue(user=user, after=newest)

        assert after_newest == middle.pk
        assert next_in_admin_queue(user=user, after=middle) == oldest.pk
        assert next_in_admin_queue(user=user, after=oldest) == newest.pk

    def test_ties_on_submission_break_on_the_id_like_the_list(self):
        from applications.selectors import next_in_admin_queue

        user = ReviewerFactory().user
        same_time = timezone.now()
        first, second = sorted(
            (
                LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=user, submitted_at=same_time)
                for _ in range(2)
            ),
            key=lambda application: application.pk,
            reverse=True,
        )

        assert next_in_admin_queue(user=user, after=first) == second.pk

    def test_an_empty_queue_has_no_next(self):
        from applications.selectors import next_in_admin_queue

        user = ReviewerFactory().user
        (only,) = self.queue(user, 1)

        assert next_in_admin_queue(user=user, after=only) is None

    def test_save_and_next_opens_the_next_one_with_the_message(self, officer_client):
        first, second = self.queue(officer_client.officer.user, 1, 2)
        url = change_url(first) + "?_changelist_filters=queue%3Dmine"

        page = officer_client.get(url)
        response = officer_client.post(url, decision_post(page, comment="Stubs match", _savenext="1"), follow=True)

        assert response.redirect_chain == [(change_url(second) + "?_changelist_filters=queue%3Dmine", 302)]
        assert [(m.level, m.message) for m in response.context["messages"]] == [
            (SUCCESS, f"Decision saved: Application {str(first.pk)[:8]} (Approved).")
        ]
        first.refresh_from_db()
        assert (first.status, first.approved_amount, first.decision_note) == (
            ApplicationStatus.APPROVED,
            Decimal("10000.00"),
            "Stubs match",
        )

    def test_after_the_last_one_the_queue_says_it_is_empty(self, officer_client):
        (last,) = self.queue(officer_client.officer.user, 1)

        page = officer_client.get(change_url(last))
        response = officer_client.post(
            change_url(last), decision_post(page, outcome="reject", reason_code="R02", _savenext="1"), follow=True
        )

        assert response.redirect_chain == [(f"{CHANGELIST}?queue=mine", 302)]
        assert [(m.level, m.message) for m in response.context["messages"]] == [
            (SUCCESS, f"Decision saved: Application {str(last.pk)[:8]} (Rejected)."),
            (INFO, "Queue empty: nothing else in manual review is assigned to you."),
        ]
        last.refresh_from_db()
        assert (last.status, last.reasons) == (
            ApplicationStatus.REJECTED,
            [{"code": "R02", "text": "Debt-to-income ratio too high"}],
        )


class TestWithoutPermission:
    def test_a_decision_posted_by_someone_who_may_not_decide_changes_nothing(self, client):
        clerk = StaffUserFactory(username="clerk")
        clerk.groups.add(Group.objects.get(name="Loan officer"))
        # Sees and changes applications, but the review permission is taken away.
        clerk.user_permissions.clear()
        group_without_review = Group.objects.create(name="No review")
        group_without_review.permissions.set(
            Group.objects.get(name="Loan officer").permissions.exclude(codename="review_loanapplication")
        )
        clerk.groups.set([group_without_review])
        client.force_login(clerk)
        application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=clerk)
        before = LoanApplication.objects.values().get(pk=application.pk)

        page = client.get(change_url(application))
        response = client.post(
            change_url(application),
            {**inline_post_data(page), "outcome": "approve", "seen_version": "1", "_savenext": "1"},
        )

        assert response.status_code == 200
        assert "This application is not awaiting your decision." in response.content.decode()
        assert LoanApplication.objects.values().get(pk=application.pk) == before
        assert ReviewDecision.objects.count() == 0


def test_a_repayment_history_reads_newest_month_first_with_months_per_status():
    from agents.review_admin import repayment_counts, repayment_rows

    history = [
        {"month": "2025-11", "status": "on_time"},
        {"month": "2026-01", "status": "late_30"},
        {"month": "2025-12", "status": "on_time"},
        {"month": "2026-02", "status": "default"},
    ]

    assert repayment_rows(history) == [
        ("2026-02", "Defaulted"),
        ("2026-01", "30 days late"),
        ("2025-12", "On time"),
        ("2025-11", "On time"),
    ]
    assert repayment_counts(history) == [("On time", 2), ("30 days late", 1), ("Defaulted", 1)]
