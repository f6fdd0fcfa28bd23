"""Customer documents (W-2, 1099, pay stubs, statements...): checked, checksummed, stored once.

The file is stored under its checksum (finance/documents/<customer>/<sha256>.<ext>) before the
row commits; if the transaction rolls back, an orphan file may remain, but the next upload of
the same file simply stores it again. Rows never point at a missing file.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import IO, Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction

from applications.models import Partner
from loanproject.core.errors import NotFound
from loanproject.core.rules import validate_fields, validated_save

from ..locks import scoped
from ..models import ALLOWED_CONTENT_TYPES, DOCUMENT_MAX_BYTES, Document
from ._scope import customer_in_scope

# Leading bytes of each allowed format: the declared content type is never trusted on its own.
SIGNATURES = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
MAX_EXTRACTED_DATA_BYTES = 64 * 1024


def max_document_bytes() -> int:
    return min(getattr(settings, "FINANCE_DOCUMENT_MAX_BYTES", DOCUMENT_MAX_BYTES), DOCUMENT_MAX_BYTES)


def sniff_content_type(head: bytes) -> str | None:
    return next((content_type for magic, content_type in SIGNATURES if head.startswith(magic)), None)


def _checksum(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    for block in iter(lambda: stream.read(64 * 1024), b""):
        digest.update(block)
        size += len(block)
    stream.seek(0)
    return digest.hexdigest(), size


def _plain_json(value: object, path: str = "extracted_data") -> object:
    """Refuse floats; turn Decimals into strings, so amounts are exact wherever the data goes."""
    if isinstance(value, float):
        raise ValidationError({"extracted_data": [f"{path} is a float; send amounts as decimal strings."]})
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _plain_json(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item, f"{path}.{index}") for index, item in enumerate(value)]
    return value


def clean_extracted_data(value: object) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"extracted_data": ["Must be a JSON object."]})
    value = cast(dict[str, Any], _plain_json(value))  # a dict comes back a dict
    if len(json.dumps(value, cls=DjangoJSONEncoder)) > MAX_EXTRACTED_DATA_BYTES:
        raise ValidationError({"extracted_data": [f"At most {MAX_EXTRACTED_DATA_BYTES} bytes."]})
    return value


@transaction.atomic
def upload_document(
    *,
    customer_id: int,
    document_type: str,
    file: IO[bytes],
    original_name: str = "",
    declared_content_type: str | None = None,
    extracted_data: dict | None = None,
    partner: Partner | None = None,
) -> tuple[Document, bool]:
    """Store the document; the same file for the same customer returns the first upload
    (created=False) and stores nothing again."""
    customer = customer_in_scope(customer_id, partner=partner)
    data = clean_extracted_data(extracted_data)
    sha256, size = _checksum(file)
    limit = max_document_bytes()
    if size == 0:
        raise ValidationError({"file": ["The file is empty."]})
    if size > limit:
        raise ValidationError({"file": [f"The file is {size} bytes; the limit is {limit} bytes."]})
    content_type = sniff_content_type(file.read(16))
    file.seek(0)
    if content_type is None:
        raise ValidationError({"file": ["Only PDF, JPEG and PNG files are accepted."]})
    declared = (declared_content_type or "").split(";")[0].strip().lower()
    if declared and declared not in ("application/octet-stream", content_type):
        raise ValidationError({"file": [f"The file is {content_type}, not {declared}."]})
    existing = Document.objects.filter(customer=customer, sha256=sha256).first()
    if existing is not None:
        return existing, False
    document = Document(
        customer=customer,
        document_type=document_type,
        original_name=(original_name or "")[:255],
        content_type=content_type,
        size_bytes=size,
        sha256=sha256,
        extracted_data=data,
    )
    document.file = File(file, name=f"{sha256}{ALLOWED_CONTENT_TYPES[content_type]}")
    validate_fields(document)
    try:
        with transaction.atomic():
            document.save(force_insert=True)
    except IntegrityError:  # the same file uploaded concurrently: the first upload stands
        return Document.objects.get(customer=customer, sha256=sha256), False
    return document, True


@transaction.atomic
def update_document_data(*, document_id: int, extracted_data: dict, partner: Partner | None = None) -> Document:
    """Replace what was read from the document (e.g. after OCR or a correction)."""
    try:
        document = scoped(Document.objects.select_for_update(of=("self",)), partner).get(pk=int(document_id))
    except (Document.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such document.") from None
    document.extracted_data = clean_extracted_data(extracted_data)
    validated_save(document, update_fields=["extracted_data"])
    return document
