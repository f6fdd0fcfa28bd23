import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from loanproject.core import crypto
from loanproject.core.crypto import DecryptionError, KeyRing, blind_index, get_key_ring

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def test_round_trip_puts_the_active_key_id_in_the_token():
    ring = KeyRing.parse(f"new:{KEY_A},old:{KEY_B}")

    token = ring.encrypt("ABCDE1234F", context="ctx")

    assert token.startswith("gcm1:new:")
    assert "ABCDE1234F" not in token
    assert ring.decrypt(token, context="ctx") == "ABCDE1234F"


def test_each_encryption_uses_a_fresh_nonce():
    ring = KeyRing.parse(f"k:{KEY_A}")

    assert ring.encrypt("same", context="c") != ring.encrypt("same", context="c")


def test_tokens_of_an_older_key_still_decrypt_after_a_new_key_is_added():
    old_ring = KeyRing.parse(f"old:{KEY_B}")
    token = old_ring.encrypt("secret", context="c")

    rotated = KeyRing.parse(f"new:{KEY_A},old:{KEY_B}")

    assert rotated.decrypt(token, context="c") == "secret"


def test_a_token_for_another_context_or_tampered_token_does_not_decrypt():
    ring = KeyRing.parse(f"k:{KEY_A}")
    token = ring.encrypt("secret", context="applications.customer.pan")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    with pytest.raises(DecryptionError):
        ring.decrypt(token, context="finance.bankconnection.access_token")
    with pytest.raises(DecryptionError):
        ring.decrypt(tampered, context="applications.customer.pan")


def test_a_token_of_a_removed_key_is_refused():
    token = KeyRing.parse(f"gone:{KEY_B}").encrypt("secret", context="c")

    with pytest.raises(DecryptionError, match="no key 'gone'"):
        KeyRing.parse(f"k:{KEY_A}").decrypt(token, context="c")


@pytest.mark.parametrize(
    "setting, message",
    [
        ("", "empty"),
        (f"{KEY_A}", "key_id:base64key"),
        ("k:not-base64!!", "not valid base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k:{KEY_A},k:{KEY_B}", "repeats key id"),
    ],
)
def test_bad_key_rings_are_refused_at_start(setting, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        KeyRing.parse(setting)


def test_blind_index_is_deterministic_keyed_and_context_bound():
    first = blind_index("ABCDE1234F", context="pan")

    assert first == blind_index("ABCDE1234F", context="pan")
    assert len(first) == 64
    assert first != blind_index("ABCDE1234F", context="phone")
    with override_settings(BLIND_INDEX_KEY=base64.b64encode(b"z" * 32).decode()):
        assert blind_index("ABCDE1234F", context="pan") != first


def test_key_ring_follows_setting_changes():
    with override_settings(FIELD_ENCRYPTION_KEYS=f"temp:{KEY_A}"):
        assert get_key_ring().active_key_id == "temp"
    assert get_key_ring().active_key_id == "test2"
    assert crypto.is_token(get_key_ring().encrypt("x", context="c"))
