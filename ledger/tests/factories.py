"""Factories for the book: accounts are rows; entries are booked through the services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory

from ledger import services
from ledger.inputs import Leg
from ledger.models import Account, AccountType, Category
from ledger.parties import Party


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"9{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Account {o.code}")
    type = AccountType.ASSET
    currency = "USD"


def cash_account() -> Account:
    return AccountFactory(code="1000", name="Cash at bank", type=AccountType.ASSET)


def income_account() -> Account:
    return AccountFactory(code="4000", name="Fee income", type=AccountType.INCOME)


def receivable(party: Party, category: str = Category.LOANS) -> Account:
    return services.open_party_account(party=party, category=category)


def book(debit: Account, credit: Account, amount: str, *, key: str, on: date = date(2026, 1, 4)):
    """A plain two-leg entry."""
    value = Decimal(amount)
    return services.post_entry(
        idempotency_key=key,
        entry_date=on,
        description=f"{key}",
        source="ledger.manual",
        legs=[Leg(account=debit, debit=value), Leg(account=credit, credit=value)],
    )


def charge(party_account: Account, income: Account, amount: str, *, key: str, due: date, reference: str = ""):
    """A charge that opens an item on the party's account; returns the open item."""
    from ledger.inputs import Charge
    from ledger.models import OpenItem

    posted = services.post_charges(
        charges=[
            Charge(
                idempotency_key=key,
                entry_date=due,
                due_date=due,
                description=key,
                receivable_account_id=party_account.pk,
                credits=((income.pk, Decimal(amount)),),
                reference=reference or key,
            )
        ],
        source="ledger.manual",
    )
    return OpenItem.objects.get(pk=posted[key].open_item_id)
