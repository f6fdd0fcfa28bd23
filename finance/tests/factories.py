"""factory-boy factories for finance rows (rows, not service calls)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from applications.tests.factories import CustomerFactory
from finance.models import (
    Account,
    AccountType,
    BankConnection,
    Budget,
    BudgetLimit,
    BudgetPeriod,
    ConnectionStatus,
    Goal,
    NetWorthSnapshot,
    Provider,
    Transaction,
)
from loanproject.core.sensitive import Sensitive

TOKEN = "access-sandbox-6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e5"


class BankConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BankConnection

    customer = factory.SubFactory(CustomerFactory)
    provider = Provider.PLAID
    institution_id = "ins_109508"
    institution_name = "First Platypus Bank"
    item_id = factory.Sequence(lambda n: f"item-{n:06d}")
    access_token = factory.LazyFunction(lambda: Sensitive(TOKEN))
    token_updated_at = factory.LazyFunction(timezone.now)
    status = ConnectionStatus.ACTIVE


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    connection = factory.SubFactory(BankConnectionFactory)
    customer = factory.LazyAttribute(lambda o: o.connection.customer)
    provider_account_id = factory.Sequence(lambda n: f"acc-{n:06d}")
    name = "Everyday Checking"
    mask = "0000"
    type = AccountType.CHECKING
    subtype = "checking"
    current_balance = Decimal("1000.00")
    available_balance = Decimal("950.00")
    currency = "USD"


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    account = factory.SubFactory(AccountFactory)
    customer = factory.LazyAttribute(lambda o: o.account.customer)
    partner = factory.LazyAttribute(lambda o: o.customer.partner)
    provider_transaction_id = factory.Sequence(lambda n: f"tx-{n:08d}")
    date = date(2026, 3, 10)
    amount = Decimal("-25.00")
    name = "Corner Grocery"
    merchant_name = "Corner Grocery"
    category = "groceries"
    pending = False


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    name = "Household"
    period = BudgetPeriod.MONTHLY
    start_date = date(2026, 1, 1)
    end_date = None

    @factory.post_generation
    def limits(self, create, extracted, **kwargs):
        for category, amount in (extracted if extracted is not None else {"groceries": Decimal("400.00")}).items():
            BudgetLimit.objects.create(budget=self, category=category, amount=Decimal(amount))


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Goal

    customer = factory.SubFactory(CustomerFactory)
    name = "Emergency fund"
    target_amount = Decimal("6000.00")
    current_amount = Decimal("1500.00")
    target_date = date(2026, 12, 31)
    priority = "high"


class NetWorthSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NetWorthSnapshot

    customer = factory.SubFactory(CustomerFactory)
    date = date(2026, 3, 31)
    currency = "USD"
    total_assets = Decimal("5000.00")
    total_liabilities = Decimal("1200.00")
    net_worth = Decimal("3800.00")
    assets_breakdown = factory.LazyFunction(lambda: {"checking": "5000.00"})
    liabilities_breakdown = factory.LazyFunction(lambda: {"credit": "1200.00"})
    accounts_count = 2
