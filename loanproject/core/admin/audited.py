"""Admin mixin that links each object's change page to its audit-log history."""

from typing import ClassVar

from auditlog.mixins import AuditlogHistoryAdminMixin


class AuditedAdminMixin(AuditlogHistoryAdminMixin):  # type: ignore[misc]  # django-auditlog ships no types
    change_form_template: ClassVar[str | None] = "admin/audited_change_form.html"
    auditlog_history_per_page = 25
