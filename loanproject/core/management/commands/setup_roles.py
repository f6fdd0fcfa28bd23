from typing import Any

from django.core.management.base import BaseCommand

from loanproject.core.roles import sync_staff_roles


class Command(BaseCommand):
    help = "Create or update the staff groups (loan officer, loan manager, credit administrator, finance, auditor) from STAFF_ROLES."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in sync_staff_roles().items():
            self.stdout.write(f"{name}: {count} permission(s)")
        self.stdout.write(self.style.SUCCESS("Roles are up to date."))
