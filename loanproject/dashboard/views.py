"""The dashboard page: staff only; each section needs the view permission of what it shows."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .selectors import dashboard_page


def _dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    figures = dashboard_page(
        today=timezone.localdate(),
        show_applications=user.has_perm("applications.view_loanapplication"),
        show_loans=user.has_perm("loans.view_driverloan") and user.has_perm("loans.view_installment"),
        show_ledger=user.has_perm("ledger.view_openitem"),
    )
    return TemplateResponse(
        request,
        "dashboard/dashboard.html",
        {**admin.site.each_context(request), "title": "Dashboard", "figures": figures},
    )


# Like every admin page: the admin's login (and its permission check), never cached, CSRF-protected.
dashboard = admin.site.admin_view(_dashboard)
