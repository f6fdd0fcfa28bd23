"""Bank connections: link, re-authenticate, disconnect. The access token is only ever written."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from applications.models import Partner
from loanproject.core.errors import Conflict, DomainError
from loanproject.core.rules import validated_save
from loanproject.core.sensitive import Sensitive

from ..locks import lock_connection
from ..models import BankConnection, ConnectionStatus, Provider
from ._scope import customer_in_scope


def _manual_has_no_token() -> DomainError:
    return DomainError(
        "A manual connection has no access token.",
        code="token_not_allowed",
        fields={"access_token": ["Leave empty for manual connections."]},
    )


def _token(value: str | None) -> Sensitive | None:
    value = (value or "").strip()
    return Sensitive(value) if value else None


@transaction.atomic
def connect_bank(
    *,
    customer_id: int,
    provider: str,
    institution_name: str,
    item_id: str = "",
    institution_id: str = "",
    access_token: str | None = None,
    partner: Partner | None = None,
) -> BankConnection:
    """Link a customer's bank (or a manual connection for file uploads, which has no token)."""
    customer = customer_in_scope(customer_id, partner=partner)
    token = _token(access_token)
    # Bad input, whatever is stored: a validation error (400), not a conflict.
    if provider != Provider.MANUAL and token is None:
        raise DomainError(
            "A provider connection needs its access token.",
            code="token_required",
            fields={"access_token": ["Required for this provider."]},
        )
    if provider == Provider.MANUAL and token is not None:
        raise _manual_has_no_token()
    connection = BankConnection(
        customer=customer,
        provider=provider,
        institution_name=institution_name,
        institution_id=institution_id,
        item_id=item_id,
        access_token=token,
        token_updated_at=timezone.now() if token else None,
    )
    validated_save(connection, force_insert=True)
    return connection


@transaction.atomic
def update_bank_connection(
    *,
    connection_id: int,
    partner: Partner | None = None,
    institution_name: str | None = None,
    access_token: str | None = None,
    status: str | None = None,
    last_error: str | None = None,
) -> BankConnection:
    """Rename, replace the token after re-authentication, or report the link's health.

    A new token makes a connection that needed re-authentication active again. Disconnecting is
    `disconnect_bank`, which also wipes the token.
    """
    connection = lock_connection(connection_id, partner=partner)
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise Conflict("This connection is disconnected; link the bank again.", code="connection_disconnected")
    if status == ConnectionStatus.DISCONNECTED:
        raise Conflict("Use disconnect to end a connection (it also wipes the token).", code="use_disconnect")
    changed: list[str] = []
    token = _token(access_token)
    if token is not None:
        if connection.provider == Provider.MANUAL:
            raise _manual_has_no_token()
        connection.access_token = token
        connection.token_updated_at = timezone.now()
        changed += ["access_token", "token_updated_at"]
        if status is None and connection.status == ConnectionStatus.REAUTH_REQUIRED:
            status = ConnectionStatus.ACTIVE
    for field, value in (("institution_name", institution_name), ("status", status), ("last_error", last_error)):
        if value is not None and getattr(connection, field) != value:
            setattr(connection, field, value)
            changed.append(field)
    if changed:
        validated_save(connection, update_fields=[*changed, "updated_at"])
    return connection


@transaction.atomic
def record_connection_sync(*, connection_id: int, partner: Partner | None = None, error: str = "") -> BankConnection:
    """A sync with the provider finished: stamp it, and remember the error if it failed."""
    connection = lock_connection(connection_id, partner=partner)
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise Conflict("This connection is disconnected.", code="connection_disconnected")
    connection.last_synced_at = timezone.now()
    connection.last_error = error[:500]
    connection.status = ConnectionStatus.ERROR if error else ConnectionStatus.ACTIVE
    validated_save(connection, update_fields=["last_synced_at", "last_error", "status", "updated_at"])
    return connection


@transaction.atomic
def disconnect_bank(*, connection_id: int, partner: Partner | None = None) -> BankConnection:
    """End the link and destroy the token; accounts and transactions stay. Idempotent."""
    connection = lock_connection(connection_id, partner=partner)
    if connection.status != ConnectionStatus.DISCONNECTED:
        connection.status = ConnectionStatus.DISCONNECTED
        connection.access_token = None
        connection.token_updated_at = timezone.now()
        connection.save(update_fields=["status", "access_token", "token_updated_at", "updated_at"])
    return connection
