"""Re-encrypt every encrypted column under the active key of the ring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

from .crypto import get_key_ring
from .fields import EncryptedTextField


@dataclass
class RotationReport:
    active_key_id: str
    stale_by_field: dict[str, int] = field(default_factory=dict)
    rotated: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "active_key_id": self.active_key_id,
            "stale_by_field": self.stale_by_field,
            "rotated": self.rotated,
            "dry_run": self.dry_run,
        }


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    return [
        (model, model_field)
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, EncryptedTextField)
    ]


def _stale_rows(model: type[models.Model], name: str, active_prefix: str) -> models.QuerySet[models.Model]:
    # Cast reads the raw token (no decryption) so the key id can be filtered in SQL.
    rows: models.QuerySet[models.Model] = (
        model._base_manager.filter(**{f"{name}__isnull": False})
        .annotate(raw_token=Cast(name, output_field=models.TextField()))
        .exclude(raw_token__startswith=active_prefix)
    )
    return rows


def rotate_encryption_keys(
    *, batch_size: int = 1000, dry_run: bool = False, progress: Callable[[int], object] | None = None
) -> RotationReport:
    """Re-encrypt, chunk by chunk in pk order, every token not made with the active key."""
    ring = get_key_ring()
    prefix = ring.token_prefix()
    report = RotationReport(active_key_id=ring.active_key_id, dry_run=dry_run)
    for model, model_field in encrypted_fields():
        label = f"{model._meta.label}.{model_field.name}"
        report.stale_by_field[label] = _stale_rows(model, model_field.name, prefix).count()
    if dry_run:
        return report
    for model, model_field in encrypted_fields():
        last_pk = None
        while True:
            with transaction.atomic():
                chunk_query = _stale_rows(model, model_field.name, prefix).order_by("pk")
                if last_pk is not None:
                    chunk_query = chunk_query.filter(pk__gt=last_pk)
                chunk = list(chunk_query.select_for_update(of=("self",)).only("pk", model_field.name)[:batch_size])
                if not chunk:
                    break
                # Saving re-encrypts: get_prep_value always encrypts under the active key.
                model._base_manager.bulk_update(chunk, [model_field.name])
            last_pk = chunk[-1].pk
            report.rotated += len(chunk)
            if progress:
                progress(len(chunk))
    return report
