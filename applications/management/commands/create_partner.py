from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from applications import services
from applications.models import Partner
from loanproject.core.audit import acting_as_system
from loanproject.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Register a partner and print a new API key for it (shown once, only its hash is kept). "
        "With --new-key, issue another key for an existing partner."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="display name, e.g. 'Acme Lending'")
        parser.add_argument("--code", required=True, help="short unique id, e.g. acme")
        parser.add_argument("--email", default="", help="technical contact e-mail")
        parser.add_argument("--new-key", action="store_true", help="partner exists: just issue a key")

    def handle(self, *args, name: str, code: str, email: str, new_key: bool, **options):
        try:
            with acting_as_system(), transaction.atomic():
                partner, key = self._partner_and_key(name=name, code=code, email=email, new_key=new_key)
        except Partner.DoesNotExist:
            raise CommandError(f"No partner with code {code!r}.") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Partner: {partner.name} (code {partner.code}, id {partner.pk})")
        self.stdout.write(f"API key: {key}")
        self.stdout.write("Store it now: it cannot be shown again. Send it as 'Authorization: Api-Key <key>'.")

    def _partner_and_key(self, *, name: str, code: str, email: str, new_key: bool):
        if new_key:
            partner = Partner.objects.get(code=code)
        else:
            partner = services.register_partner(name=name, code=code, contact_email=email)
        _, key = services.issue_partner_api_key(partner=partner, name="issued by create_partner")
        return partner, key
