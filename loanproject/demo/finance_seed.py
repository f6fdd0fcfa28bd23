"""Demo personal finance for the demo customers: a bank connection, accounts, a few months of
transactions (salary twice a month, matching the income declared on the application), a budget,
goals, month-end net-worth snapshots and a pay stub, all through the finance services.
Deterministic for a given day (dates are relative to today)."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from decimal import Decimal

from applications.models import Customer
from finance import services
from finance.periods import add_months, first_of_month
from loanproject.core.money import to_cents

MONTHS_OF_HISTORY = 4
PAY_STUB = b"%PDF-1.4\n% demo pay stub\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    """A random amount in cents between low and high dollars (exact, never a float)."""
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _transactions(
    rng: random.Random, checking_id: int, card_id: int, savings_id: int, start: date, today: date, pay: Decimal
):
    rows: list[services.TransactionInput] = []

    def add(account_id: int, day: date, amount: Decimal, name: str, category: str, merchant: str = "") -> None:
        rows.append(
            services.TransactionInput(
                account_id=account_id,
                provider_transaction_id=f"demo-{account_id}-{len(rows):05d}",
                date=day,
                amount=amount,
                name=name,
                merchant_name=merchant,
                category=category,
                pending=day >= today - timedelta(days=1),
            )
        )

    rent = _money(rng, 900, 1800)
    day = start
    while day <= today:
        if day.day in (1, 15):
            add(checking_id, day, pay, "ACME CORP PAYROLL", "payroll", "ACME Corp")
        if day.day == 3:
            add(checking_id, day, -rent, "Rent", "rent", "Main Street Apartments")
        if day.day == 5:
            add(checking_id, day, -_money(rng, 60, 180), "City Power & Water", "utilities", "City Utilities")
            add(checking_id, day, Decimal("-200.00"), "Transfer to savings", "transfer")
            add(savings_id, day, Decimal("200.00"), "Transfer from checking", "transfer")
        if day.weekday() == 5:
            add(card_id, day, -_money(rng, 40, 160), "Fresh Market", "groceries", "Fresh Market")
        if day.weekday() in (4, 6) and rng.random() < 0.6:
            add(card_id, day, -_money(rng, 12, 70), "Corner Bistro", "dining", "Corner Bistro")
        if day.weekday() == 1:
            add(card_id, day, -_money(rng, 20, 60), "Fuel Stop", "transport", "Fuel Stop")
        day += timedelta(days=1)
    return rows


def seed_demo_finance(*, incomes: list[tuple[Customer, Decimal]], today: date, seed: int = 20261124) -> None:
    """`incomes`: each customer with the annual income they declared."""
    rng = random.Random(seed)
    start = add_months(first_of_month(today), -MONTHS_OF_HISTORY)
    for index, (customer, annual_income) in enumerate(incomes):
        bank = services.connect_bank(
            customer_id=customer.pk,
            provider="plaid",
            institution_name="First Platypus Bank",
            institution_id="ins_109508",
            item_id=f"demo-item-{index + 1:03d}",
            access_token=f"access-sandbox-demo-{rng.getrandbits(64):016x}",
        )
        checking = services.open_account(
            connection_id=bank.pk,
            data=services.AccountData(
                provider_account_id="demo-chk",
                name="Everyday Checking",
                mask=f"{1000 + index:04d}",
                type="checking",
                subtype="checking",
                current_balance=Decimal("0.00"),
            ),
        )
        savings = services.open_account(
            connection_id=bank.pk,
            data=services.AccountData(
                provider_account_id="demo-sav",
                name="Rainy Day Savings",
                mask=f"{2000 + index:04d}",
                type="savings",
                subtype="savings",
                current_balance=Decimal("0.00"),
            ),
        )
        card = services.open_account(
            connection_id=bank.pk,
            data=services.AccountData(
                provider_account_id="demo-card",
                name="Platypus Rewards Card",
                mask=f"{3000 + index:04d}",
                type="credit",
                subtype="credit card",
                current_balance=Decimal("0.00"),
            ),
        )
        pay = to_cents(annual_income / 24)  # paid on the 1st and the 15th
        services.import_transactions(
            transactions=_transactions(rng, checking.pk, card.pk, savings.pk, start, today, pay),
            source_name="demo data",
        )
        # Month-end snapshots of a slowly growing net worth, then today's balances and snapshot.
        cash, saved, owed = _money(rng, 500, 4000), _money(rng, 1000, 9000), _money(rng, 100, 2500)
        for months_back in range(MONTHS_OF_HISTORY - 1, -1, -1):
            month_end = first_of_month(add_months(today, -months_back)) - timedelta(days=1)
            growth = Decimal(MONTHS_OF_HISTORY - months_back) * 200
            for account, balance in ((checking, cash + growth / 2), (savings, saved + growth), (card, owed)):
                services.update_account(
                    account_id=account.pk,
                    current_balance=balance,
                    available_balance=balance if account.type != "credit" else None,
                )
            services.take_net_worth_snapshot(customer_id=customer.pk, on=month_end)
        services.take_net_worth_snapshot(customer_id=customer.pk, on=today)
        services.create_budget(
            customer_id=customer.pk,
            name="Monthly spending",
            period="monthly",
            start_date=start,
            limits={"groceries": "450.00", "dining": "150.00", "transport": "120.00", "utilities": "150.00"},
        )
        services.create_goal(
            customer_id=customer.pk,
            name="Emergency fund",
            target_amount=Decimal("10000.00"),
            current_amount=saved,
            target_date=add_months(today, 12),
            priority="high",
        )
        if index % 3 == 0:
            services.create_goal(
                customer_id=customer.pk,
                name="Holiday",
                target_amount=Decimal("2500.00"),
                current_amount=Decimal("300.00"),
                target_date=add_months(today, 7),
                priority="low",
            )
            services.upload_document(
                customer_id=customer.pk,
                document_type="pay_stub",
                file=io.BytesIO(PAY_STUB + str(index).encode()),
                original_name="pay-stub.pdf",
                extracted_data={"employer": "ACME Corp", "net_pay": str(pay)},
            )
