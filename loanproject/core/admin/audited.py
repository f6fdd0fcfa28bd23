"""Admin mixin that links each object's change page to its audit-log history."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from auditlog.mixins import AuditlogHistoryAdminMixin

if TYPE_CHECKING:
    from django.template.response import _TemplateForResponseT


class AuditedAdminMixin(AuditlogHistoryAdminMixin):  # type: ignore[misc]  # django-auditlog ships no types
    # Typed as ModelAdmin types it, so that the two bases agree.
    change_form_template: ClassVar[_TemplateForResponseT | None] = "admin/audited_change_form.html"
    auditlog_history_per_page = 25
