"""Accounts of a bank connection: open, update balances, close (soft delete), restore."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from applications.models import Partner
from loanproject.core.errors import Conflict, DomainError, NotFound
from loanproject.core.rules import validated_save

from ..locks import lock_account, lock_connection
from ..models import Account, ConnectionStatus
from ._unset import UNSET, Unset


@dataclass(frozen=True)
class AccountData:
    provider_account_id: str
    name: str
    type: str
    current_balance: Decimal
    subtype: str = ""
    mask: str = ""
    available_balance: Decimal | None = None
    currency: str = "USD"


@transaction.atomic
def open_account(*, connection_id: int, data: AccountData, partner: Partner | None = None) -> Account:
    try:
        connection = lock_connection(connection_id, partner=partner)
    except NotFound:  # named in the request body, not the URL: a field error
        raise DomainError("No such bank connection.", fields={"connection": ["No such bank connection."]}) from None
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise Conflict("This connection is disconnected.", code="connection_disconnected")
    account = Account(connection=connection, customer_id=connection.customer_id, **asdict(data))
    validated_save(account, force_insert=True)
    return account


@transaction.atomic
def update_account(
    *,
    account_id: int,
    partner: Partner | None = None,
    name: str | Unset = UNSET,
    subtype: str | Unset = UNSET,
    mask: str | Unset = UNSET,
    current_balance: Decimal | Unset = UNSET,
    available_balance: Decimal | Unset | None = UNSET,
) -> Account:
    """Change the name, subtype, mask or balances; what is not given stays as it is
    (`available_balance=None` clears it)."""
    account = lock_account(account_id, partner=partner)
    if account.is_deleted:
        raise Conflict("This account is closed; restore it first.", code="account_closed")
    changes = {
        "name": name,
        "subtype": subtype,
        "mask": mask,
        "current_balance": current_balance,
        "available_balance": available_balance,
    }
    changed = [field for field, value in changes.items() if value is not UNSET and getattr(account, field) != value]
    for field in changed:
        setattr(account, field, changes[field])
    if changed:
        validated_save(account, update_fields=[*changed, "updated_at"])
    return account


@transaction.atomic
def close_account(*, account_id: int, partner: Partner | None = None) -> Account:
    """Soft delete: the account and its transactions leave every list and figure. Idempotent."""
    account = lock_account(account_id, partner=partner)
    if account.deleted_at is None:
        account.deleted_at = timezone.now()
        account.save(update_fields=["deleted_at", "updated_at"])
    return account


@transaction.atomic
def restore_account(*, account_id: int, partner: Partner | None = None) -> Account:
    account = lock_account(account_id, partner=partner)
    if account.deleted_at is not None:
        account.deleted_at = None
        account.save(update_fields=["deleted_at", "updated_at"])
    return account
