from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "loanproject.core"
    label = "core"
    verbose_name = "Core: outbox and idempotency"

    def ready(self) -> None:
        from . import crypto, roles

        setting_changed.connect(crypto.reset_key_ring_on_setting_change)
        # Groups follow STAFF_ROLES after every migrate, so a fresh database always has the roles.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="core.sync_roles")
