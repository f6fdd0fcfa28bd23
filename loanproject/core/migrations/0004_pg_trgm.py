"""The pg_trgm extension: the GIN trigram indexes behind the admin's name searches
(core.indexes.trigram_index, core.admin.search).

pg_trgm is a trusted extension (PostgreSQL 13 and later): the database's owner, who runs
`migrate` in production (README, Database roles), may create it without being a superuser.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0003_outbox_redeliveries")]

    operations = [TrigramExtension()]
