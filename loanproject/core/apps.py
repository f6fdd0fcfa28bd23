from django.apps import AppConfig, apps
from django.core.signals import request_finished, setting_changed
from django.db import DEFAULT_DB_ALIAS
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "loanproject.core"
    label = "core"
    verbose_name = "Core: outbox and idempotency"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_ready

        from . import broker, crypto, db, metrics, request_context

        request_finished.connect(request_context.clear_request_context, dispatch_uid="core.clear_request_context")
        task_prerun.connect(request_context.bind_task_request_id, dispatch_uid="core.task_request_id")
        task_postrun.connect(request_context.unbind_task_request_id, dispatch_uid="core.task_request_id_end")
        worker_ready.connect(metrics.serve_worker_metrics, dispatch_uid="core.worker_metrics")
        worker_process_shutdown.connect(metrics.mark_worker_process_dead, dispatch_uid="core.worker_metrics_dead")

        setting_changed.connect(crypto.reset_key_ring_on_setting_change)
        connection_created.connect(db.watch_new_connection, dispatch_uid="core.watch_new_connection")
        metrics.register_database_collectors()
        broker.load_transport()
        post_migrate.connect(after_migrate, dispatch_uid="core.after_migrate")


def after_migrate(*, app_config: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """post_migrate receiver. Django sends it once per app; these steps need every app's tables
    and permissions, so they run once, after the last app with models."""
    from . import beat, database_roles, roles

    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if app_config is not with_models[-1]:
        return
    # Groups follow STAFF_ROLES after every migrate, so a fresh database always has the roles.
    roles.sync_roles_after_migrate(using=using)
    # The declared schedules are periodic tasks (visible and pausable in the admin) from the
    # first migrate on, not only once beat has started.
    beat.install_beat_schedule_after_migrate(using=using)
    # With DATABASE_APP_ROLE set, the application's role gets its privileges on what migrate made.
    database_roles.grant_app_role_after_migrate(using=using)
