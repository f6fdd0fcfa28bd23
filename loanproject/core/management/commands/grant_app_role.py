from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from loanproject.core.database_roles import grant_app_role, grant_statements
from loanproject.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Give the application's PostgreSQL role (web, workers, beat) its privileges on this database: "
        "read and write the data, never truncate, change or delete journal entries and postings, own nothing. "
        "Run it as the owner of the tables (the role that runs migrate); every migrate does it by itself "
        "when DATABASE_APP_ROLE is set. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_role", help="the role web, workers and beat connect as, e.g. loans_app")
        parser.add_argument("--owner", default=None, help="the role that owns the tables (default: the role connected)")
        parser.add_argument("--print", action="store_true", dest="print_only", help="print the SQL, change nothing")

    def handle(self, *args: Any, app_role: str, owner: str | None, print_only: bool, **options: Any) -> None:
        try:
            if print_only:
                statements = grant_statements(app_role=app_role, owner=owner)
            else:
                statements = grant_app_role(app_role=app_role, owner=owner)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if print_only:
            self.stdout.write("\n".join(f"{statement};" for statement in statements))
            return
        self.stdout.write(self.style.SUCCESS(f"{app_role}: {len(statements)} grant statements applied."))
