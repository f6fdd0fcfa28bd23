"""Admin mixin that links each object's change page to its audit-log history."""

from auditlog.mixins import AuditlogHistoryAdminMixin


class AuditedAdminMixin(AuditlogHistoryAdminMixin):
    change_form_template = "admin/audited_change_form.html"
    auditlog_history_per_page = 25
