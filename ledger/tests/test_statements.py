"""The trial balance, account statements and a party's statement, on worked examples and after
random sequences of postings, payments and reversals (seeded: a failure names its seed)."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger import services
from ledger.inputs import Charge
from ledger.models import Account, AccountType, Category, JournalEntry
from ledger.parties import Party
from ledger.statements import (
    CHARGE,
    PAYMENT,
    Totals,
    account_statement,
    account_statement_export,
    party_balances,
    party_statement,
    trial_balance,
    trial_balance_export,
)

from .factories import AccountFactory, book, cash_account, income_account, receivable

pytestmark = pytest.mark.django_db

D = Decimal
DRIVER = Party.of("loans.driver", 7)
OTHER = Party.of("loans.driver", 8)


def bill(account: Account, income: Account, amount: str, *, key: str, on: date) -> int:
    posted = services.post_charges(
        charges=[Charge(key, on, on, key, account.pk, ((income.pk, D(amount)),), reference=key)], source="test"
    )
    return posted[key].entry_id


def test_the_trial_balance_rolls_party_accounts_up_per_ledger_and_sums_to_zero():
    cash, income = cash_account(), income_account()
    bill(receivable(DRIVER), income, "30.00", key="a", on=date(2026, 1, 4))
    bill(receivable(OTHER), income, "20.00", key="b", on=date(2026, 1, 4))
    bill(receivable(OTHER, Category.LEASE), income, "5.00", key="c", on=date(2026, 1, 5))
    services.record_payment(
        party=DRIVER, amount=D("40.00"), received_on=date(2026, 1, 6), idempotency_key="p", cash_account=cash
    )

    rolled = trial_balance(as_of=date(2026, 1, 31), by_ledger=True)
    detail = trial_balance(as_of=date(2026, 1, 31))

    assert [(r.code, r.name, r.debits, r.credits, r.debit_balance, r.credit_balance) for r in rolled.rows] == [
        ("1000", "Cash at bank", D("40.00"), D("0.00"), D("40.00"), D("0.00")),
        ("4000", "Fee income", D("0.00"), D("55.00"), D("0.00"), D("55.00")),
        ("loans.driver:*:LEASE:USD", "All loans.driver accounts: LEASE", D("5.00"), D("0.00"), D("5.00"), D("0.00")),
        ("loans.driver:*:LOANS:USD", "All loans.driver accounts: LOANS", D("50.00"), D("30.00"), D("20.00"), D("0.00")),
        (
            "loans.driver:*:liability:USD",
            "All loans.driver accounts: liability",
            D("0"),
            D("10.00"),
            D("0"),
            D("10.00"),
        ),
    ]
    assert [row.account_id is None for row in rolled.rows] == [False, False, True, True, True]
    assert [(r.code, r.balance) for r in detail.rows] == [
        ("1000", D("40.00")),
        ("4000", D("-55.00")),
        ("loans.driver:7:LOANS:USD", D("0.00")),
        ("loans.driver:7:liability:USD", D("-10.00")),
        ("loans.driver:8:LEASE:USD", D("5.00")),
        ("loans.driver:8:LOANS:USD", D("20.00")),
    ]
    assert rolled.totals == detail.totals == {"USD": Totals(D("95.00"), D("95.00"))}
    assert rolled.balances and detail.balances
    assert trial_balance(as_of=date(2026, 1, 4)).totals == {"USD": Totals(D("50.00"), D("50.00"))}
    assert trial_balance(as_of=date(2026, 1, 3)).rows == []


def test_the_trial_balance_is_per_currency():
    usd_cash, usd_income = cash_account(), income_account()
    eur_cash = AccountFactory(code="1001", name="Cash EUR", currency="EUR")
    eur_income = AccountFactory(code="4001", name="Income EUR", type=AccountType.INCOME, currency="EUR")
    book(usd_cash, usd_income, "10.00", key="usd")
    book(eur_cash, eur_income, "7.00", key="eur")

    assert trial_balance().totals == {"EUR": Totals(D("7.00"), D("7.00")), "USD": Totals(D("10.00"), D("10.00"))}
    assert [row.code for row in trial_balance(currency="EUR").rows] == ["1001", "4001"]
    exported = list(trial_balance_export(currency="EUR"))
    assert exported[-1] == {
        "code": "Total",
        "currency": "EUR",
        "debits": D("7.00"),
        "credits": D("7.00"),
        "debit_balance": D("0.00"),
        "credit_balance": D("0.00"),
    }
    assert [row["code"] for row in exported] == ["1001", "4001", "Total"]


def test_an_account_statement_reads_in_keyset_pages_that_carry_the_running_balance():
    cash, income = cash_account(), income_account()
    book(cash, income, "100.00", key="before", on=date(2026, 1, 1))
    for n in range(7):
        book(cash, income, f"{n + 1}.00", key=f"in-{n}", on=date(2026, 1, 10) + timedelta(days=n % 3))
    book(income, cash, "2.50", key="out", on=date(2026, 1, 11))
    book(cash, income, "9.00", key="after", on=date(2026, 2, 1))

    whole = account_statement(account=cash, date_from=date(2026, 1, 2), date_to=date(2026, 1, 31))
    pages, page = [], account_statement(account=cash, date_from=date(2026, 1, 2), date_to=date(2026, 1, 31), limit=3)
    while True:
        pages.append(page)
        if page.next is None:
            break
        page = account_statement(
            account=cash, date_from=date(2026, 1, 2), date_to=date(2026, 1, 31), after=page.next, limit=3
        )

    assert (whole.opening_balance, whole.debits, whole.credits, whole.closing_balance) == (
        D("100.00"),
        D("28.00"),
        D("2.50"),
        D("125.50"),
    )
    assert whole.lines[-1].balance == whole.closing_balance
    assert [len(p.lines) for p in pages] == [3, 3, 2]
    assert [line for p in pages for line in p.lines] == whole.lines
    assert {p.closing_balance for p in pages} == {D("125.50")}
    exported = list(
        account_statement_export(account=cash, date_from=date(2026, 1, 2), date_to=date(2026, 1, 31), chunk=3)
    )
    assert exported[0] == {"entry_date": date(2026, 1, 2), "description": "Opening balance", "balance": D("100.00")}
    assert [row["balance"] for row in exported[1:-1]] == [line.balance for line in whole.lines]
    assert exported[-1]["balance"] == D("125.50")


def test_a_party_statement_worked_example():
    """Billed 100 LOANS + 20 LEASE before the week; in the week 50 LOANS billed, 200 paid (30 left
    as credit), 10 LEASE billed and paid from the credit, one LOANS bill of 50 reversed."""
    cash, income = cash_account(), income_account()
    loans, lease = receivable(DRIVER), receivable(DRIVER, Category.LEASE)
    bill(loans, income, "100.00", key="old", on=date(2025, 12, 28))
    bill(lease, income, "20.00", key="old-lease", on=date(2025, 12, 28))
    wrong = bill(loans, income, "50.00", key="wrong", on=date(2026, 1, 4))
    services.reverse_entry(
        entry_id=wrong, reason="billed twice", reversal_date=date(2026, 1, 5), on_behalf_of_source="test"
    )
    bill(loans, income, "50.00", key="week", on=date(2026, 1, 5))
    payment = services.record_payment(
        party=DRIVER, amount=D("200.00"), received_on=date(2026, 1, 6), idempotency_key="pay", cash_account=cash
    )
    bill(lease, income, "10.00", key="lease", on=date(2026, 1, 7))
    services.apply_party_credit(party=DRIVER, applied_on=date(2026, 1, 7))
    bill(loans, income, "1.00", key="next-week", on=date(2026, 1, 11))

    statement = party_statement(party=DRIVER, date_from=date(2026, 1, 4), date_to=date(2026, 1, 10))

    assert statement.opening_balance == D("120.00")
    assert statement.charges == {"LEASE": D("10.00"), "LOANS": D("50.00")}
    assert statement.payments == D("200.00")
    assert statement.credit_applied == D("10.00")
    assert (statement.opening_credit, statement.closing_credit) == (D("0.00"), D("20.00"))
    assert statement.closing_balance == D("-20.00")
    assert statement.opening_balance + statement.total_charges - statement.payments == statement.closing_balance
    assert [(b.label, b.opening, b.closing) for b in statement.balances] == [
        ("CREDIT", D("0.00"), D("-20.00")),
        ("LEASE", D("20.00"), D("0.00")),
        ("LOANS", D("100.00"), D("0.00")),
    ]
    assert [(a.payment_entry_id, a.reference, a.category, a.amount) for a in statement.allocations] == [
        (payment.entry.pk, "old", "LOANS", D("100.00")),
        (payment.entry.pk, "week", "LOANS", D("50.00")),
        (payment.entry.pk, "old-lease", "LEASE", D("20.00")),
        (JournalEntry.objects.get(source=services.CREDIT_SOURCE).pk, "lease", "LEASE", D("10.00")),
    ]
    assert [(line.kind, line.category, line.debit, line.credit) for line in statement.lines][:2] == [
        (CHARGE, "LOANS", D("50.00"), D("0.00")),
        (CHARGE, "LOANS", D("0.00"), D("50.00")),
    ]
    assert [line.kind for line in statement.lines].count(PAYMENT) == 3  # two receivables and the credit


# --- Random sequences -----------------------------------------------------------------------------

PARTIES = [Party.of("loans.driver", n) for n in range(1, 4)]
CATEGORIES = [Category.LOANS, Category.LEASE, Category.EZPASS]
START = date(2026, 1, 4)


def random_book(rng: random.Random, steps: int) -> None:
    """Charges, payments, manual entries and reversals of charges and payments, on random days."""
    cash, income = cash_account(), income_account()
    expense = AccountFactory(code="5000", name="Expenses", type=AccountType.EXPENSE)
    charges: list[int] = []
    payments: list[tuple[Party, int]] = []
    for step in range(steps):
        day = START + timedelta(days=rng.randrange(60))
        amount = D(rng.randrange(1, 20_000)) / 100
        action = rng.choice(["charge", "charge", "pay", "manual", "reverse_charge", "reverse_payment", "credit"])
        party = rng.choice(PARTIES)
        if action == "charge":
            account = receivable(party, rng.choice(CATEGORIES))
            charges.append(bill(account, income, str(amount), key=f"c{step}", on=day))
        elif action == "pay":
            result = services.record_payment(
                party=party, amount=amount, received_on=day, idempotency_key=f"p{step}", cash_account=cash
            )
            payments.append((party, result.entry.pk))
        elif action == "manual":
            book(expense, cash, str(amount), key=f"m{step}", on=day)
        elif action == "reverse_charge" and charges:
            entry_id = charges.pop(rng.randrange(len(charges)))
            if not JournalEntry.objects.get(pk=entry_id).open_items.filter(allocations__isnull=False).exists():
                services.reverse_entry(entry_id=entry_id, reason="r", reversal_date=day, on_behalf_of_source="test")
        elif action == "reverse_payment" and payments:
            payer, entry_id = payments.pop(rng.randrange(len(payments)))
            try:
                services.reverse_payment(party=payer, entry_id=entry_id, reason="bounced")
            except Exception as refusal:  # its credit was spent since: a documented refusal
                assert "credit" in str(refusal).lower()
        elif action == "credit":
            services.apply_party_credit(party=party, applied_on=day)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_after_random_postings_payments_and_reversals_the_book_adds_up(seed):
    rng = random.Random(seed)
    random_book(rng, steps=60)

    for _ in range(5):
        as_of = START + timedelta(days=rng.randrange(-1, 70))
        for by_ledger in (False, True):
            trial = trial_balance(as_of=as_of, by_ledger=by_ledger)
            assert trial.balances, (seed, as_of, trial.totals)
            assert sum((row.balance for row in trial.rows), D("0")) == D("0")
    for account in Account.objects.order_by("pk"):
        date_from = START + timedelta(days=rng.randrange(60))
        date_to = date_from + timedelta(days=rng.randrange(30))
        statement = account_statement(account=account, date_from=date_from, date_to=date_to)
        moved = sum((line.debit - line.credit for line in statement.lines), D("0"))
        assert statement.opening_balance + moved == statement.closing_balance, (seed, account.code)
        assert (
            statement.lines[-1].balance if statement.lines else statement.opening_balance
        ) == statement.closing_balance
        later = account_statement(
            account=account, date_from=date_to + timedelta(days=1), date_to=date_to + timedelta(days=1)
        )
        assert later.opening_balance == statement.closing_balance
    for party in PARTIES:
        date_from = START + timedelta(days=rng.randrange(60))
        date_to = date_from + timedelta(days=rng.randrange(1, 30))
        statement = party_statement(party=party, date_from=date_from, date_to=date_to)
        assert statement.opening_balance + statement.total_charges - statement.payments == statement.closing_balance
        closing = party_balances(party=party, as_of=date_to)
        assert [(b.category, b.closing) for b in closing] == [(b.category, b.closing) for b in statement.balances]


def test_a_trial_balance_page_keeps_its_first_rows_and_totals_every_row():
    cash, income = cash_account(), income_account()
    for n in range(5):
        bill(receivable(Party.of("loans.driver", n)), income, "2.00", key=f"b{n}", on=date(2026, 1, 4))
    book(cash, income, "1.00", key="cash")

    page = trial_balance(limit=3)
    whole = trial_balance()

    assert [row.code for row in page.rows] == ["1000", "4000", "loans.driver:0:LOANS:USD"]
    assert page.truncated and not whole.truncated and not trial_balance(limit=7).truncated
    assert page.totals == whole.totals == {"USD": Totals(D("11.00"), D("11.00"))}
