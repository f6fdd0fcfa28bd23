"""The changelist of every application related to one: the same PAN, e-mail or phone."""

from __future__ import annotations

from uuid import UUID

from django.contrib import admin

from .. import selectors
from ..models import LoanApplication

PARAMETER = "related_to"


class RelatedApplicationsFilter(admin.SimpleListFilter):
    """`?related_to=<application id>`: the applications sharing that application's customer's PAN,
    e-mail or phone (its page lists the newest ten and links here for the rest). Shown in the
    sidebar only while it is used: there is nothing to choose from otherwise."""

    title = "related applications"
    parameter_name = PARAMETER

    def lookups(self, request, model_admin):
        # Listed (so applied) whenever used, an unknown id included: it then filters to nothing.
        if self.value() is None:
            return []
        return [(self.value(), f"Same PAN, e-mail or phone as {self.value()[:8]}")]

    def queryset(self, request, queryset):
        application = self._application()
        if self.value() is None:
            return queryset
        if application is None:
            return queryset.none()
        return queryset.filter(pk__in=selectors.applications_sharing_keys(application).order_by().values("pk"))

    def _application(self) -> LoanApplication | None:
        # Read once per request (lookups and queryset both ask), with the customer's keys only.
        if not hasattr(self, "_loaded"):
            self._loaded = None
            try:
                pk = UUID(self.value() or "")
            except ValueError:
                return None
            self._loaded = (
                LoanApplication.objects.select_related("customer")
                .only("customer__pan_hash", "customer__email", "customer__phone")
                .filter(pk=pk)
                .first()
            )
        return self._loaded
