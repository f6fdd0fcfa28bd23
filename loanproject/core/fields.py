"""Model fields: encrypted text whose Python value is a `Sensitive`.

The column holds only ciphertext tokens (see crypto.py). Reading a row decrypts into a
`Sensitive`, so the clear value never leaks through str(), templates, the admin, the audit log or
log lines. Only `isnull` lookups are allowed: equality on ciphertext can never match (every
token has a fresh nonce), so use the model's blind-index column for lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression
from django.db.models.lookups import Lookup
from django.utils.module_loading import import_string

from . import crypto
from .sensitive import Sensitive

DEFAULT_MASKER = "loanproject.core.sensitive.mask_tail"


class EncryptedTextField(models.TextField[Sensitive | str | None, Sensitive | None]):
    description = "Text encrypted with AES-256-GCM under the field key ring"

    def __init__(self, *args: Any, context: str, masker: str = DEFAULT_MASKER, **kwargs: Any) -> None:
        self.context = context
        self.masker_path = masker
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        if self.masker_path != DEFAULT_MASKER:
            kwargs["masker"] = self.masker_path
        return name, path, args, kwargs

    @property
    def masker(self) -> Callable[[str], str]:
        masker: Callable[[str], str] = import_string(self.masker_path)
        return masker

    def _wrap(self, clear: str) -> Sensitive:
        return Sensitive(clear, self.masker)

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> Sensitive | None:
        if value is None:
            return None
        return self._wrap(crypto.get_key_ring().decrypt(value, context=self.context))

    def to_python(self, value: object) -> Sensitive | None:
        if value is None or isinstance(value, Sensitive):
            return value
        value = str(value)
        if crypto.is_token(value):  # e.g. loaddata of a dump made with value_to_string
            return self._wrap(crypto.get_key_ring().decrypt(value, context=self.context))
        return self._wrap(value)

    def get_prep_value(self, value: object) -> str | None:
        if value is None:
            return None
        clear = value.reveal() if isinstance(value, Sensitive) else str(value)
        if crypto.is_token(clear):
            return clear
        return crypto.get_key_ring().encrypt(clear, context=self.context)

    def pre_save(self, model_instance: models.Model, add: bool) -> object:
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = self._wrap(value)
            setattr(model_instance, self.attname, value)
        return value

    def value_to_string(self, obj: models.Model) -> str:
        # Serialised dumps carry ciphertext, never clear text.
        value = self.value_from_object(obj)
        return "" if value is None else (self.get_prep_value(value) or "")

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} is encrypted: only 'isnull' lookups work; "
                "query the blind-index column instead"
            )
        return super().get_lookup(lookup_name)

    def formfield(self, **kwargs: Any) -> None:
        # Never render the stored secret back into a form; forms take new values only.
        return None
