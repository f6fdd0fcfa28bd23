"""Store existing customers' e-mail and phone the way the services now store new ones.

The fraud checks compare e-mail and phone between customers; rows written before the services
normalised them would not match a new customer's "Asha@Example.com" or "+1 (212) 555-0101".
The rules are copied here (not imported) so that this migration keeps doing what it did when it
was written. Only rows that change are written, in chunks; nothing to undo on the way back.
"""

import re

from django.db import migrations

PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
CHUNK = 2000


def normalise_contacts(apps, schema_editor):
    Customer = apps.get_model("applications", "Customer")
    changed = []
    # Only the two columns: the PAN would be decrypted for nothing.
    for customer in Customer.objects.only("pk", "email", "phone").order_by("pk").iterator(chunk_size=CHUNK):
        email = (customer.email or "").strip().lower()
        phone = PHONE_SEPARATORS.sub("", customer.phone or "")
        if (email, phone) != (customer.email, customer.phone):
            customer.email, customer.phone = email, phone
            changed.append(customer)
        if len(changed) >= CHUNK:
            Customer.objects.bulk_update(changed, ["email", "phone"])
            changed = []
    Customer.objects.bulk_update(changed, ["email", "phone"])


class Migration(migrations.Migration):
    dependencies = [("applications", "0005_application_partner_matches_customer")]

    operations = [migrations.RunPython(normalise_contacts, migrations.RunPython.noop, elidable=True)]
