"""The driver statement on the staff API: JSON, or ?export=csv / ?export=pdf."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import statement_doors
from ..statements import driver_statement
from .views import StaffAPIMixin


class DriverStatementView(StaffAPIMixin, APIView):
    required_permissions = {"get": statement_doors.VIEW_STATEMENT}

    @extend_schema(
        parameters=[
            OpenApiParameter("week", OpenApiTypes.DATE, description="Any day of the week (Sunday to Saturday)."),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Or a period: its first day ..."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="... and its last (inclusive)."),
            OpenApiParameter("export", str, enum=list(statement_doors.FORMATS), description="A file instead of JSON."),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="?export=csv"),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="?export=pdf"),
            404: OpenApiResponse(description="No such driver."),
        },
        description="The driver's statement of a period (default: this business week): opening balance, charges "
        "by category, payments and what they paid, credit, closing balance (opening + charges - payments), and "
        "each loan's installments due in the period. Amounts are strings.",
    )
    def get(self, request: Request, driver_id: int) -> HttpResponseBase:
        try:
            query = statement_doors.StatementQuery(request.query_params).parsed()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        statement = driver_statement(driver_id=driver_id, date_from=query["date_from"], date_to=query["date_to"])
        if query["export"] == "csv":
            return statement_doors.csv_file(statement)
        if query["export"] == "pdf":
            return statement_doors.pdf_file(statement)
        return Response(statement_doors.as_json(statement))
