"""Manual journal entries through maker-checker (services.manual_entries): the book's own accounts
only, balanced, one currency; asked by one person, approved by another; the admin and API doors."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.models import AccountType, JournalEntry
from ledger.parties import Party
from ledger.services import EntryAlreadyBooked, ManualLeg, post_manual_entry, request_manual_entry, set_account_active
from loanproject.core import approvals
from loanproject.core.errors import Conflict, PermissionDenied
from loanproject.core.models import ApprovalRequest, ApprovalStatus
from loanproject.core.testing import run_together

from .factories import AccountFactory, cash_account, income_account, receivable

pytestmark = pytest.mark.django_db

ACTION = "ledger.post_manual_entry"
D = Decimal


def staff(username: str, role: str = "Finance") -> User:
    user = User.objects.create_user(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def maker():
    return staff("mary.maker")


@pytest.fixture
def checker():
    return staff("chris.checker")


@pytest.fixture
def accounts():
    return cash_account(), income_account()


def legs(debit_account, credit_account, amount: str = "40.00") -> list[ManualLeg]:
    return [
        ManualLeg(account_id=debit_account.pk, debit=D(amount)),
        ManualLeg(account_id=credit_account.pk, credit=D(amount)),
    ]


def nothing_stored() -> bool:
    return not JournalEntry.objects.exists() and not ApprovalRequest.objects.exists()


def test_a_manual_entry_waits_for_a_second_person_who_books_it(maker, checker, accounts):
    cash, income = accounts

    asked = request_manual_entry(
        legs=legs(cash, income), description="Bank interest", reason="on the May statement", requested_by=maker
    )

    assert (asked.action, asked.status, asked.amount, asked.requested_by, asked.reason) == (
        ACTION,
        ApprovalStatus.PENDING,
        D("40.00"),
        maker,
        "on the May statement",
    )
    assert asked.payload["legs"] == [
        {"account_id": cash.pk, "debit": "40.00", "credit": "0.00"},
        {"account_id": income.pk, "debit": "0.00", "credit": "40.00"},
    ]
    assert not JournalEntry.objects.exists()

    approved = approvals.approve_request(request_id=asked.pk, decided_by=checker, note="seen")

    entry = JournalEntry.objects.get()
    assert approved.result == {"entry_id": entry.pk}
    assert (entry.source, entry.description, entry.created_by, entry.entry_date) == (
        "ledger.manual",
        "Bank interest",
        checker,
        timezone.localdate(),
    )
    assert entry.idempotency_key == f"ledger.manual:{asked.payload['idempotency_key']}"
    assert list(entry.postings.order_by("pk").values_list("account_id", "debit", "credit")) == [
        (cash.pk, D("40.00"), D("0.00")),
        (income.pk, D("0.00"), D("40.00")),
    ]
    assert (approved.decided_by, approved.decided_at is not None) == (checker, True)


def test_the_requester_never_approves_their_own_entry(maker, accounts):
    asked = request_manual_entry(legs=legs(*accounts), description="d", reason="r", requested_by=maker)

    with pytest.raises(PermissionDenied):
        approvals.approve_request(request_id=asked.pk, decided_by=maker)

    asked.refresh_from_db()
    assert (asked.status, JournalEntry.objects.count()) == (ApprovalStatus.PENDING, 0)


def test_below_the_threshold_the_requester_books_it_alone(maker, accounts):
    approvals.set_approval_threshold(action=ACTION, direct_limit=D("50.00"))

    small = request_manual_entry(legs=legs(*accounts, "49.99"), description="d", reason="r", requested_by=maker)
    large = request_manual_entry(legs=legs(*accounts, "50.00"), description="d", reason="r", requested_by=maker)

    assert (small.status, large.status) == (ApprovalStatus.DIRECT, ApprovalStatus.PENDING)
    assert list(JournalEntry.objects.values_list("pk", flat=True)) == [small.result["entry_id"]]


def test_an_approval_is_refused_without_the_permission(maker, accounts):
    asked = request_manual_entry(legs=legs(*accounts), description="d", reason="r", requested_by=maker)

    with pytest.raises(PermissionDenied):
        approvals.approve_request(request_id=asked.pk, decided_by=staff("manny", "Loan manager"))
    with pytest.raises(PermissionDenied):
        request_manual_entry(legs=legs(*accounts), description="d", reason="r", requested_by=staff("lou", "Collector"))

    assert JournalEntry.objects.count() == 0


def refusal(requested_by: User, entry_legs: list[ManualLeg], **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        request_manual_entry(
            legs=entry_legs, description=kwargs.pop("description", "d"), reason="r", requested_by=requested_by, **kwargs
        )
    return refused.value.message_dict


def test_a_party_s_account_is_refused_naming_the_leg(maker, accounts):
    cash, _ = accounts
    driver = receivable(Party.of("loans.driver", 7))

    fields = refusal(maker, legs(cash, driver))

    assert list(fields) == ["legs"]
    assert fields["legs"][0].startswith(
        f"Leg 2 ({driver.code}): the account of a party (loans.driver 7) must equal its open items;"
    )
    assert nothing_stored()


def test_bad_legs_are_refused_with_field_messages_and_nothing_is_stored(maker, accounts):
    cash, income = accounts
    closed = AccountFactory(code="6000", type=AccountType.EXPENSE)
    set_account_active(account_id=closed.pk, is_active=False)
    euros = AccountFactory(code="1001", currency="EUR")

    assert refusal(maker, []) == {"legs": ["A manual entry needs at least two legs."]}
    assert refusal(maker, legs(cash, closed)) == {"legs": ["Leg 2 (6000): the account is closed to new postings."]}
    assert refusal(
        maker, [ManualLeg(account_id=cash.pk, debit=D("5")), ManualLeg(account_id=euros.pk, credit=D("5"))]
    ) == {"legs": ["All legs in one currency; these are in EUR, USD."]}
    assert refusal(
        maker, [ManualLeg(account_id=cash.pk, debit=D("5")), ManualLeg(account_id=income.pk, credit=D("4"))]
    ) == {"legs": ["The entry does not balance in USD: debits 5.00, credits 4.00."]}
    assert refusal(maker, [ManualLeg(account_id=cash.pk), ManualLeg(account_id=income.pk, credit=D("-1"))]) == {
        "legs": [
            "Leg 1 (1000): a positive debit or a positive credit, not both and not neither.",
            "Leg 2 (4000): amounts are positive with at most two decimal places.",
        ]
    }
    assert refusal(maker, [ManualLeg(account_id=999_999, debit=D("1")), *legs(cash, income)[1:]]) == {
        "legs": ["Leg 1: no account #999999."]
    }
    assert refusal(maker, legs(cash, income), entry_date=timezone.localdate() + timedelta(days=1)) == {
        "entry_date": [f"Enter a date between 1970-01-01 and today ({timezone.localdate()})."]
    }
    assert refusal(maker, legs(cash, income), description=" ") == {"description": ["Say what the entry books."]}
    assert nothing_stored()


def test_a_reason_is_required(maker, accounts):
    with pytest.raises(ValidationError) as refused:
        request_manual_entry(legs=legs(*accounts), description="d", reason="  ", requested_by=maker)

    assert refused.value.message_dict == {"reason": ["Say why the entry is booked by hand."]}
    assert nothing_stored()


def test_the_key_books_an_entry_once(maker, accounts):
    first = post_manual_entry(legs=legs(*accounts), description="d", idempotency_key="k1", actor=maker)

    with pytest.raises(EntryAlreadyBooked) as again:
        post_manual_entry(legs=legs(*accounts), description="d", idempotency_key="k1", actor=maker)

    assert again.value.existing_entry_id == first.pk
    assert JournalEntry.objects.count() == 1


def test_a_past_date_is_kept(maker, accounts):
    entry = post_manual_entry(
        legs=legs(*accounts), description="d", idempotency_key="k", actor=maker, entry_date=date(2026, 1, 5)
    )

    assert entry.entry_date == date(2026, 1, 5)


# --- Doors ---------------------------------------------------------------------------------------

URL = "/api/v1/ledger/manual-entries/"


def api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body(cash, income, amount: str = "40.00", **extra) -> dict:
    return {
        "legs": [{"account": cash.pk, "debit": amount}, {"account": income.pk, "credit": amount}],
        "description": "Bank interest",
        "reason": "on the statement",
        **extra,
    }


def test_the_api_answers_202_while_it_waits_and_201_when_done_below_the_threshold(maker, accounts):
    waiting = api(maker).post(URL, body(*accounts), format="json")
    approvals.set_approval_threshold(action=ACTION, direct_limit=D("10.00"))
    done = api(maker).post(URL, body(*accounts, amount="9.99"), format="json")

    assert waiting.status_code == 202, waiting.json()
    assert (waiting.json()["status"], waiting.json()["amount"], waiting.json()["requested_by"]) == (
        "pending",
        "40.00",
        "mary.maker",
    )
    assert done.status_code == 201, done.json()
    assert done.json()["result"] == {"entry_id": JournalEntry.objects.get().pk}


def test_the_api_refuses_bad_input_with_field_messages_and_stores_nothing(maker, accounts):
    cash, _ = accounts
    driver = receivable(Party.of("loans.driver", 7))
    client = api(maker)

    party = client.post(URL, body(cash, driver), format="json")
    unbalanced = client.post(
        URL, {**body(*accounts), "legs": [{"account": cash.pk, "debit": "1.00"}, {"account": cash.pk}]}, format="json"
    )
    negative = client.post(URL, body(*accounts, amount="-5.00"), format="json")
    unknown = client.post(URL, {**body(*accounts), "memo": "x"}, format="json")
    blank_reason = client.post(URL, body(*accounts, reason=""), format="json")

    assert party.status_code == 400
    assert party.json()["error"]["fields"]["legs"][0].startswith(f"Leg 2 ({driver.code}): the account of a party")
    assert (unbalanced.status_code, unbalanced.json()["error"]["fields"]) == (
        400,
        {"legs": ["Leg 2 (1000): a positive debit or a positive credit, not both and not neither."]},
    )
    assert negative.status_code == 400 and "legs.0.debit" in negative.json()["error"]["fields"]
    assert (unknown.status_code, list(unknown.json()["error"]["fields"])) == (400, ["memo"])
    assert (blank_reason.status_code, list(blank_reason.json()["error"]["fields"])) == (400, ["reason"])
    assert nothing_stored()


def test_the_api_needs_the_permission(accounts):
    answer = api(staff("lou", "Collector")).post(URL, body(*accounts), format="json")

    assert answer.status_code == 403
    assert nothing_stored()


ADMIN_URL = "admin:ledger_manual_entry"


def admin_post(cash, income, amount: str = "40.00", **extra) -> dict:
    return {
        "description": "Bank interest",
        "entry_date": "",
        "reason": "on the statement",
        "legs-TOTAL_FORMS": "4",
        "legs-INITIAL_FORMS": "0",
        "legs-MIN_NUM_FORMS": "0",
        "legs-MAX_NUM_FORMS": "20",
        "legs-0-account": str(cash.pk),
        "legs-0-debit": amount,
        "legs-1-account": str(income.pk),
        "legs-1-credit": amount,
        **extra,
    }


def test_the_admin_page_asks_for_an_entry_and_goes_to_the_request(
    client, maker, accounts, django_assert_max_num_queries
):
    client.force_login(maker)

    with django_assert_max_num_queries(8):
        page = client.get(reverse(ADMIN_URL))
    # The request, its audit record, and its rehearsal (the entry booked and rolled back): the same
    # whatever the number of legs (their accounts are read in one query).
    with django_assert_max_num_queries(30):
        asked = client.post(reverse(ADMIN_URL), admin_post(*accounts))

    assert page.status_code == 200
    request = ApprovalRequest.objects.get()
    assert asked.status_code == 302
    assert asked["Location"] == reverse("admin:core_approvalrequest_change", args=[request.pk])
    assert (request.status, request.amount, request.reason) == (ApprovalStatus.PENDING, D("40.00"), "on the statement")
    listing = client.get(reverse("admin:ledger_journalentry_changelist"))
    assert reverse(ADMIN_URL) in listing.content.decode()


def test_the_admin_page_shows_refusals_and_stores_nothing(client, maker, accounts, django_assert_max_num_queries):
    cash, _ = accounts
    driver = receivable(Party.of("loans.driver", 7))
    client.force_login(maker)

    with django_assert_max_num_queries(20) as two_legs:
        party = client.post(reverse(ADMIN_URL), admin_post(cash, driver))
    four_legs = admin_post(cash, driver, **{"legs-2-account": str(cash.pk), "legs-2-debit": "1.00"})
    four_legs.update({"legs-3-account": str(driver.pk), "legs-3-credit": "1.00"})
    with django_assert_max_num_queries(len(two_legs)):  # the page reads the legs' accounts at once
        client.post(reverse(ADMIN_URL), four_legs)
    blank = client.post(reverse(ADMIN_URL), admin_post(*accounts, reason=" "))

    assert party.status_code == 200
    assert party.context["page_errors"][0].startswith(f"Leg 2 ({driver.code}): the account of a party")
    assert f">{driver}</a></strong>" in party.content.decode()  # each leg shows its account again
    assert blank.status_code == 200 and blank.context["form"].errors == {"reason": ["This field is required."]}
    assert nothing_stored()


def test_the_admin_page_needs_the_permission(client):
    client.force_login(staff("manny", "Loan manager"))

    assert client.get(reverse(ADMIN_URL)).status_code == 403
    assert client.post(reverse(ADMIN_URL), {}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_checkers_approving_at_once_book_the_entry_once(maker, accounts):
    asked = request_manual_entry(legs=legs(*accounts), description="d", reason="r", requested_by=maker)
    first, second = staff("first.checker"), staff("second.checker")

    results = run_together(
        lambda: approvals.approve_request(request_id=asked.pk, decided_by=first),
        lambda: approvals.approve_request(request_id=asked.pk, decided_by=second),
    )

    refused = [result for result in results if isinstance(result, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict), results
    assert JournalEntry.objects.filter(source="ledger.manual").count() == 1
