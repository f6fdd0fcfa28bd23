"""The dashboard page: staff only; each section needs the view permission of what it shows."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .selectors import dashboard_page_for


def _dashboard(request: HttpRequest) -> HttpResponse:
    figures = dashboard_page_for(request.user, today=timezone.localdate())
    return TemplateResponse(
        request,
        "dashboard/dashboard.html",
        {**admin.site.each_context(request), "title": "Dashboard", "figures": figures},
    )


# Like every admin page: the admin's login (and its permission check), never cached, CSRF-protected.
dashboard = admin.site.admin_view(_dashboard)
