"""A bank access token is ciphertext in its column and never appears in clear, nor as
ciphertext, in API answers, admin pages, the audit log or log lines."""

import json
import logging

import pytest
from auditlog.models import LogEntry
from django.core import serializers
from django.db import connection
from django.urls import reverse

from applications.tests.factories import CustomerFactory
from finance import services
from finance.models import ACCESS_TOKEN_CONTEXT, BankConnection
from loanproject.core import crypto

pytestmark = pytest.mark.django_db
FIRST = "access-production-3b1f3c5e-9f0a-4c1e-b7a2-1d2e3f4a5b6c"
SECOND = "access-production-77aa77aa-0000-4c1e-b7a2-ffffeeee0000"


def stored(connection_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM finance_bankconnection WHERE id = %s", [connection_id])
        return cursor.fetchone()[0]


def test_the_token_never_leaves_in_clear(partner_client, partner, admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    customer = CustomerFactory(partner=partner)

    created = partner_client.post(
        "/api/v1/finance/connections/",
        data=json.dumps(
            {
                "customer": customer.pk,
                "provider": "plaid",
                "institution_name": "Chase",
                "item_id": "item-1",
                "access_token": FIRST,
            }
        ),
        content_type="application/json",
    )
    connection_id = created.json()["id"]
    first_ciphertext = stored(connection_id)
    rotated = partner_client.patch(
        f"/api/v1/finance/connections/{connection_id}/",
        data=json.dumps({"access_token": SECOND}),
        content_type="application/json",
    )
    second_ciphertext = stored(connection_id)
    answers = [
        created,
        rotated,
        partner_client.get("/api/v1/finance/connections/"),
        partner_client.get(f"/api/v1/finance/connections/{connection_id}/"),
        admin_client.get(reverse("admin:finance_bankconnection_changelist")),
        admin_client.get(reverse("admin:finance_bankconnection_change", args=[connection_id])),
        admin_client.get(reverse("admin:finance_bankconnection_auditlog", args=[connection_id])),
        admin_client.get(reverse("admin:applications_customer_change", args=[customer.pk])),
        partner_client.post(f"/api/v1/finance/connections/{connection_id}/disconnect/"),
    ]

    assert [answer.status_code for answer in answers] == [201, 200, 200, 200, 200, 200, 200, 200, 200]
    for answer in answers:
        page = answer.content.decode()
        assert FIRST not in page and SECOND not in page
        assert "gcm1:" not in page
    assert FIRST not in caplog.text and SECOND not in caplog.text
    audit = json.dumps([entry.changes for entry in LogEntry.objects.get_for_object(BankConnection.objects.get())])
    assert FIRST not in audit and SECOND not in audit and "gcm1:" not in audit
    assert first_ciphertext.startswith("gcm1:test2:") and FIRST not in first_ciphertext
    assert second_ciphertext.startswith("gcm1:test2:") and second_ciphertext != first_ciphertext
    assert crypto.get_key_ring().decrypt(second_ciphertext, context=ACCESS_TOKEN_CONTEXT) == SECOND
    assert stored(connection_id) is None  # disconnect destroyed it


def test_the_column_holds_ciphertext_bound_to_its_context():
    customer = CustomerFactory()

    bank = services.connect_bank(customer_id=customer.pk, provider="plaid", institution_name="X", access_token=FIRST)
    token = stored(bank.pk)

    assert crypto.get_key_ring().decrypt(token, context=ACCESS_TOKEN_CONTEXT) == FIRST
    with pytest.raises(crypto.DecryptionError):
        crypto.get_key_ring().decrypt(token, context="applications.customer.pan")  # copied elsewhere it is useless


def test_the_model_value_is_masked_everywhere_but_reveal(caplog):
    bank = BankConnection.objects.get(pk=_bank().pk)

    logging.getLogger("finance.tests").warning("connection %s token %s", bank.pk, bank.access_token)

    assert (str(bank.access_token), repr(bank.access_token), f"{bank.access_token}") == (
        "********",
        "<Sensitive ********>",
        "********",
    )
    assert FIRST not in caplog.text and "********" in caplog.text
    dumped = serializers.serialize("json", [bank])
    assert FIRST not in dumped and "gcm1:" in dumped  # dumps carry ciphertext only
    assert bank.access_token.reveal() == FIRST


def _bank():
    return services.connect_bank(
        customer_id=CustomerFactory().pk, provider="plaid", institution_name="X", access_token=FIRST
    )


def test_key_rotation_re_encrypts_bank_tokens(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.FIELD_ENCRYPTION_KEYS = "test1:dGVzdC1maWVsZC1rZXktbnVtYmVyLTEtMzJieXRlcyE="
    bank = _bank()
    assert stored(bank.pk).startswith("gcm1:test1:")
    settings.FIELD_ENCRYPTION_KEYS = (
        "test2:dGVzdC1maWVsZC1rZXktbnVtYmVyLTItMzJieXRlcyE=,test1:dGVzdC1maWVsZC1rZXktbnVtYmVyLTEtMzJieXRlcyE="
    )

    out = StringIO()
    call_command("rotate_encryption_keys", "--json", stdout=out, stderr=StringIO())

    assert json.loads(out.getvalue())["stale_by_field"]["finance.BankConnection.access_token"] == 1
    assert stored(bank.pk).startswith("gcm1:test2:")
    assert BankConnection.objects.get(pk=bank.pk).access_token.reveal() == FIRST
