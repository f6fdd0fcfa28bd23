"""AES-256-GCM encryption under a key ring, and keyed blind indexes.

Ciphertext tokens look like ``gcm1:<key id>:<base64url(nonce || ciphertext || tag)>``. The key id
inside the token lets any key of the ring decrypt while only the first (active) key encrypts, so
keys rotate without downtime (`manage.py rotate_encryption_keys`). Each token is bound to a
context (for example "applications.customer.pan") as associated data, so a ciphertext copied into
another column does not decrypt.

A blind index is HMAC-SHA256 under a separate key: equal inputs give equal indexes, so duplicates
can be found with an indexed equality lookup, while the index of a 10-character PAN cannot be
brute-forced without the key (a plain SHA-256 of the PAN can be).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TOKEN_SCHEME = "gcm1"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class DecryptionError(Exception):
    """The token is malformed, was made under an unknown key, or was tampered with."""


def _decode_key(encoded: str, what: str, *, exact: int | None = None, minimum: int = 0) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{what} is not valid base64") from exc
    if exact is not None and len(raw) != exact:
        raise ImproperlyConfigured(f"{what} must decode to {exact} bytes, got {len(raw)}")
    if len(raw) < minimum:
        raise ImproperlyConfigured(f"{what} must decode to at least {minimum} bytes")
    return raw


@dataclass(frozen=True)
class KeyRing:
    """Keys by id; `active_key_id` encrypts, every key decrypts."""

    keys: dict[str, bytes]
    active_key_id: str

    @classmethod
    def parse(cls, setting: str) -> KeyRing:
        """Parse "kid:base64key,kid2:base64key" (first = active)."""
        keys: dict[str, bytes] = {}
        active = ""
        for entry in filter(None, (part.strip() for part in (setting or "").split(","))):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise ImproperlyConfigured(
                    "FIELD_ENCRYPTION_KEYS entries must look like 'key_id:base64key' (key id: letters, digits, - or _)"
                )
            if key_id in keys:
                raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS repeats key id {key_id!r}")
            keys[key_id] = _decode_key(encoded, f"Encryption key {key_id!r}", exact=32)
            active = active or key_id
        if not keys:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
        return cls(keys=keys, active_key_id=active)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_key_id]).encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{TOKEN_SCHEME}:{self.active_key_id}:{body}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id = key_id_of(token)
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"no key {key_id!r} in FIELD_ENCRYPTION_KEYS")
        try:
            raw = base64.urlsafe_b64decode(token.split(":", 2)[2])
            clear = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise DecryptionError("ciphertext is corrupt or belongs to another field") from exc
        return clear.decode("utf-8")

    def token_prefix(self) -> str:
        """The prefix of every token made with the active key."""
        return f"{TOKEN_SCHEME}:{self.active_key_id}:"


def is_token(value: str) -> bool:
    parts = value.split(":", 2)
    return len(parts) == 3 and parts[0] == TOKEN_SCHEME and bool(_KEY_ID.match(parts[1]))


def key_id_of(token: str) -> str:
    if not is_token(token):
        raise DecryptionError("not an encryption token")
    return token.split(":", 2)[1]


@lru_cache(maxsize=1)
def get_key_ring() -> KeyRing:
    return KeyRing.parse(settings.FIELD_ENCRYPTION_KEYS)


@lru_cache(maxsize=1)
def _blind_index_key() -> bytes:
    if not settings.BLIND_INDEX_KEY:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is not set")
    return _decode_key(settings.BLIND_INDEX_KEY, "BLIND_INDEX_KEY", minimum=32)


def blind_index(value: str, *, context: str) -> str:
    """Keyed, deterministic 64-hex-char digest of `value` for equality lookups."""
    message = context.encode() + b"\x00" + value.encode("utf-8")
    return hmac.new(_blind_index_key(), message, hashlib.sha256).hexdigest()


def validate_key_settings(*, field_encryption_keys: str, blind_index_key: str) -> None:
    """Fail at start-up, not at the first PAN, when a key is malformed."""
    KeyRing.parse(field_encryption_keys)
    _decode_key(blind_index_key, "BLIND_INDEX_KEY", minimum=32)


def reset_key_ring_on_setting_change(*, setting: str, **kwargs: object) -> None:
    if setting in {"FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}:
        get_key_ring.cache_clear()
        _blind_index_key.cache_clear()
