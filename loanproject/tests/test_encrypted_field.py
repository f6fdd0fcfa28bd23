import base64

import pytest
from django.core.exceptions import FieldError
from django.db import connection
from django.test import override_settings

from applications.models import Customer
from applications.tests.factories import CustomerFactory
from loanproject.core.key_rotation import rotate_encryption_keys
from loanproject.core.sensitive import Sensitive

pytestmark = pytest.mark.django_db
NEW_KEY = "fresh:" + base64.b64encode(b"f" * 32).decode()


def raw_pans() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pan FROM applications_customer ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_reading_gives_a_sensitive_value_and_the_column_ciphertext():
    customer = CustomerFactory(clear_pan="ABCDE1234F")

    loaded = Customer.objects.get(pk=customer.pk)

    assert isinstance(loaded.pan, Sensitive)
    assert loaded.pan.reveal() == "ABCDE1234F"
    assert str(loaded.pan) == "XXXXXX234F"
    assert raw_pans()[0].startswith("gcm1:test2:")


def test_only_isnull_lookups_are_allowed():
    CustomerFactory()

    assert Customer.objects.filter(pan__isnull=False).count() == 1
    with pytest.raises(FieldError, match="blind-index"):
        Customer.objects.filter(pan="ABCDE1234F").count()


def test_serialised_dumps_carry_ciphertext():
    customer = CustomerFactory(clear_pan="ABCDE1234F")

    dumped = Customer._meta.get_field("pan").value_to_string(customer)

    assert dumped.startswith("gcm1:")
    assert Customer._meta.get_field("pan").to_python(dumped).reveal() == "ABCDE1234F"


def test_rotation_re_encrypts_everything_under_the_new_key():
    first = CustomerFactory(clear_pan="AAAAA1111A")
    second = CustomerFactory(clear_pan="BBBBB2222B")
    old_tokens = raw_pans()

    with override_settings(FIELD_ENCRYPTION_KEYS=f"{NEW_KEY},test2:dGVzdC1maWVsZC1rZXktbnVtYmVyLTItMzJieXRlcyE="):
        preview = rotate_encryption_keys(dry_run=True)
        report = rotate_encryption_keys(batch_size=1)
        again = rotate_encryption_keys()
        new_tokens = raw_pans()
        values = [c.pan.reveal() for c in Customer.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")]

    assert preview.stale_by_field["applications.Customer.pan"] == 2
    assert report.rotated == 2
    assert again.rotated == 0
    assert all(token.startswith("gcm1:fresh:") for token in new_tokens)
    assert set(new_tokens).isdisjoint(old_tokens)
    assert values == ["AAAAA1111A", "BBBBB2222B"]
