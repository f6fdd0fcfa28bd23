import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from loanproject.core.key_rotation import rotate_encryption_keys
from loanproject.core.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (PAN, bank tokens) under the active key, the first "
        "entry of FIELD_ENCRYPTION_KEYS. Put the new key first, keep the old ones, run this, then "
        "remove the old keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction")
        parser.add_argument("--dry-run", action="store_true", help="only count stale rows")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")

    def handle(self, *args: Any, batch_size: int, dry_run: bool, as_json: bool, **options: Any) -> None:
        preview = rotate_encryption_keys(dry_run=True)
        total = sum(preview.stale_by_field.values())
        if dry_run:
            report = preview
        else:
            with progress_bar(total=total, unit="row", enabled=not as_json) as bar:
                report = rotate_encryption_keys(batch_size=batch_size, progress=bar.update)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
            return
        for label, count in preview.stale_by_field.items():
            self.stdout.write(f"{label}: {count} value(s) under an older key")
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        count = total if dry_run else report.rotated
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} value(s) under key {report.active_key_id}"))
