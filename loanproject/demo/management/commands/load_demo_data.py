import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from loanproject.demo.seed import DEMO_STAFF_TOKEN, load_demo_data


class Command(BaseCommand):
    help = (
        "Load deterministic demo data (partners with an API key, customers, applications in every "
        "status, one staff user per role, drivers with loans and a posted week) and print the logins. Safe to run again: existing data is "
        "kept and the demo password is reset."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_ADMIN_PASSWORD", ""),
            help="staff password (default: DEMO_ADMIN_PASSWORD or a random one)",
        )
        parser.add_argument("--force", action="store_true", help="allow outside DEBUG (never in production)")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the server answers, for the printed links (make run passes ADDR and PORT)",
        )

    def handle(self, *args, password: str, force: bool, url: str, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Demo data has a public API key: refused unless DEBUG is on (or --force).")
        summary = load_demo_data(password=password or None)
        self.stdout.write("Demo data " + ("loaded." if summary.created else "already present; logins reset."))
        self.stdout.write("")
        url = url.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"Admin:    {url}/admin/"))
        self.stdout.write(f"Logins:   {', '.join(summary.staff_usernames)}")
        self.stdout.write(f"Password: {summary.password}   (same for every demo login)")
        self.stdout.write(f"API:      {url}/api/docs/   key: {summary.api_key}")
        self.stdout.write(f"Try:      curl -H 'Authorization: Api-Key {summary.api_key}' {url}/api/v1/applications/")
        self.stdout.write(
            f"Staff:    curl -H 'Authorization: Token {DEMO_STAFF_TOKEN}' {url}/api/v1/loans/   (fiona.finance)"
        )
