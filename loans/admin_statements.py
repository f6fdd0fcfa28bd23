"""The driver statement in the admin: a "Statement" button on the driver's page leads to the
statement of a period (the current week by default) with its CSV and PDF. Staff only, with the
driver view permission (Finance, loan managers, auditors); anyone else gets 403."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.http import urlencode

from loanproject.core.errors import DomainError

from . import statement_doors
from .statements import driver_statement

if TYPE_CHECKING:
    from django.contrib import admin

    from .models import Driver

    _Base = admin.ModelAdmin[Driver]
else:
    _Base = object


class DriverStatementAdminMixin(_Base):
    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:driver_id>/statement/",
                self.admin_site.admin_view(self.statement_view),
                name="loans_driver_statement",
            ),
            *super().get_urls(),
        ]

    def statement_view(self, request: HttpRequest, driver_id: int) -> HttpResponseBase:
        if not request.user.has_perm(statement_doors.VIEW_STATEMENT):
            raise PermissionDenied
        form = statement_doors.StatementQuery(request.GET)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form}
        try:
            query = form.parsed()
            statement = driver_statement(driver_id=driver_id, date_from=query["date_from"], date_to=query["date_to"])
        except ValidationError as exc:
            error = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            return TemplateResponse(request, "admin/loans/driver/statement.html", {**context, "error": error})
        except DomainError as exc:
            if exc.http_status == 404:
                raise Http404(exc.message) from None
            return TemplateResponse(request, "admin/loans/driver/statement.html", {**context, "error": exc.message})
        if query["export"] == "csv":
            return statement_doors.csv_file(statement)
        if query["export"] == "pdf":
            return statement_doors.pdf_file(statement)
        period = {"date_from": str(statement.date_from), "date_to": str(statement.date_to)}
        week = timedelta(weeks=1)
        return TemplateResponse(
            request,
            "admin/loans/driver/statement.html",
            {
                **context,
                "title": f"Statement of {statement.driver.full_name}",
                "statement": statement,
                "book": statement.book,
                "period_label": statement_doors.period_label(statement.date_from, statement.date_to),
                "query": urlencode(period),
                "previous_week": urlencode({"week": str(statement.date_from - week)}),
                "next_week": urlencode({"week": str(statement.date_from + week)}),
            },
        )
