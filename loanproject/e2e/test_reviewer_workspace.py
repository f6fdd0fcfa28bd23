"""The loan officer's day: log in, land on their queue, decide the next application on the
reviewer's page, then the next one straight from the decision ("Save and open next in my queue"),
until the queue is empty. Counts every page load from the login page; axe audits each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.services import score_applications
from agents.tests.factories import strong_application
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, ReviewDecision, ReviewOutcome
from applications.tests.factories import CustomerFactory, LoanApplicationFactory

from .conftest import log_in_audited
from .test_back_office import staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

QUEUE = "/admin/applications/loanapplication/?queue=mine"


def referred(officer, *, name: str, email: str, amount: str, hours_ago: int) -> LoanApplication:
    """Scored by the pipeline and referred (its e-mail is shared with another PAN: M01), then put
    in the officer's queue."""
    customer = CustomerFactory(full_name=name, email=email)
    CustomerFactory(email=email, full_name=f"Other holder of {email}")
    application = strong_application(
        customer=customer, requested_amount=Decimal(amount), submitted_at=timezone.now() - timedelta(hours=hours_ago)
    )
    score_applications(application_ids=[application.pk])
    LoanApplication.objects.filter(pk=application.pk).update(assigned_to=officer)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MANUAL_REVIEW
    return application


def test_an_officer_decides_their_queue_from_the_reviewers_page(page, axe, scoring_policy):
    officer = staff("olivia", "Loan officer", reviewer=True)
    first = referred(officer, name="Asha Rao", email="asha@example.com", amount="12000.00", hours_ago=1)
    second = referred(officer, name="Ben Okafor", email="ben@example.com", amount="9000.00", hours_ago=2)
    earlier = LoanApplicationFactory(
        customer=Customer.objects.get(full_name="Other holder of asha@example.com"), status=ApplicationStatus.REJECTED
    )

    log_in_audited(page, axe, "olivia")  # lands on their queue
    page.shot("landing")
    assert page.locator("#landing-review-queue tbody tr").count() == 2

    with page.expect_navigation():
        page.click("#open-next-application")
    axe.check(page)
    page.shot("summary")
    assert page.locator(".review-summary caption").all_text_contents() == [
        "Applicant and request",
        "Score, risk and affordability (scoring run 1, policy v1)",
        "Reasons and flags",
        "What each agent found",
        "Credit data",
        "Months by status (1 in all)",
        "Repayment history, newest first",
        "Related applications: same PAN, e-mail or phone",
    ]
    related = page.locator(
        ".review-summary table:has(caption:text-is('Related applications: same PAN, e-mail or phone')) tbody tr"
    )
    assert related.first.locator("th, td").all_inner_texts()[:4] == [
        str(earlier.pk)[:8],
        "Other holder of asha@example.com",
        "e-mail",
        "Rejected",
    ]
    assert page.locator(".review-summary tr:has-text('email_shared') td").all_inner_texts()[-1] == (
        "E-mail shared with other PANs: 1"
    )
    assert not page.locator("details.review-record").evaluate("d => d.open")
    # Beside each other on a wide screen; stacked, summary first, on a narrow one.
    summary, decision = page.locator(".review-summary").bounding_box(), page.locator(".review-decision").bounding_box()
    assert summary["x"] < decision["x"] and summary["y"] == decision["y"]
    page.set_viewport_size({"width": 700, "height": 1000})
    assert page.locator(".review-decision").bounding_box()["y"] > page.locator(".review-summary").bounding_box()["y"]
    page.shot("summary-narrow")
    page.set_viewport_size({"width": 1400, "height": 1000})
    # The full record unfolds from the keyboard (a <details>, no script), and passes axe open too.
    page.focus("details.review-record > summary")
    page.keyboard.press("Enter")
    assert page.locator("details.review-record").evaluate("d => d.open")
    axe.check(page)
    page.evaluate("window.scrollTo(0, 0)")  # the decision column is sticky: shoot it from the top
    page.shot("record")
    page.keyboard.press("Enter")

    page.check("input[name=outcome][value=approve]")
    page.fill("#id_comment", "Shared e-mail is her employer's; stubs match")
    with page.expect_navigation():
        page.click("input[name=_savenext]")
    axe.check(page)
    page.shot("next")
    assert page.url.endswith(f"/{second.pk}/change/?_changelist_filters=queue%3Dmine")
    assert page.inner_text(".messagelist") == f"Decision saved: Application {str(first.pk)[:8]} (Approved)."

    # The second decision with the keyboard alone: choose, type, then Enter on the focused button.
    page.focus("#id_outcome_1")
    page.keyboard.press("Space")
    page.focus("#id_reason_code")
    page.select_option("#id_reason_code", "R02")
    page.focus("#id_comment")
    page.keyboard.type("Other debts not declared")
    page.focus("input[name=_savenext]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    axe.check(page)
    page.shot("queue-empty")
    assert page.inner_text(".messagelist").splitlines() == [
        f"Decision saved: Application {str(second.pk)[:8]} (Rejected).",
        "Queue empty: nothing else in manual review is assigned to you.",
    ]

    # Login, landing (their queue), first application, second application, the empty queue; today
    # 7: login, index, queue, first application, queue, second application, queue.
    assert len(page.loads) == 5, page.loads
    axe.assert_every_load_checked(page)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.approved_amount, first.decided_by, first.decision_note) == (
        ApplicationStatus.APPROVED,
        Decimal("12000.00"),
        officer,
        "Shared e-mail is her employer's; stubs match",
    )
    assert (second.status, second.approved_amount, second.decided_by, second.reasons) == (
        ApplicationStatus.REJECTED,
        None,
        officer,
        [{"code": "R02", "text": "Debt-to-income ratio too high"}],
    )
    assert list(
        ReviewDecision.objects.order_by("decided_at").values_list(
            "application", "reviewer", "outcome", "amount", "comment"
        )
    ) == [
        (
            first.pk,
            officer.pk,
            ReviewOutcome.APPROVED,
            Decimal("12000.00"),
            "Shared e-mail is her employer's; stubs match",
        ),
        (second.pk, officer.pk, ReviewOutcome.REJECTED, None, "Other debts not declared"),
    ]
