"""Staff API for driver loans: session or token auth, one model permission per action.

Finance staff create and cancel loans, run the weekly posting, record driver payments, read and
export the reports; loan managers read and export. Partner API keys are not accepted here.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound as HttpNotFound
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from loanproject.core import keyset
from loanproject.core.api.approvals import ApprovalRequestSerializer, approval_response
from loanproject.core.api.authentication import HasStaffPermission, StaffTokenAuthentication
from loanproject.core.api.exports import ExportJobSerializer
from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, StoredResponse, idempotency_key, respond_once
from loanproject.core.api.pagination import CursorPagination, StandardPagination
from loanproject.core.auth import acting_user
from loanproject.core.export_jobs import request_report_export
from loanproject.core.exports import EXPORT_FORMATS, XLSX_MEDIA_TYPE, csv_response

from .. import selectors, services
from ..models import LoanStatus
from ..periods import business_today, current_week, posting_week
from ..reports import EXPORT_PERMISSION, KEY, REPORTS
from .serializers import (
    CancelSerializer,
    LoanCreateSerializer,
    LoanDetailSerializer,
    LoanPreviewRequestSerializer,
    LoanProductSerializer,
    LoanQuoteSerializer,
    LoanSerializer,
    PaymentResultSerializer,
    PaymentSerializer,
    PostingRequestSerializer,
    PostingResultSerializer,
    PostingRunSerializer,
    ReportExportRequestSerializer,
    ReportPageSerializer,
    ReportQuerySerializer,
)

VIEW_LOANS = "loans.view_driverloan"
BOOK_LOANS = "loans.add_driverloan"


# Type checkers see the mixin as the view it is mixed into.
if TYPE_CHECKING:
    _View = APIView
else:
    _View = object


class StaffAPIMixin(_View):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [HasStaffPermission]
    required_permissions: dict[str, str] = {}


class LoanViewSet(StaffAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_field = "loan_number"
    lookup_value_regex = r"DL-[0-9]{4}-[0-9]{4,}"
    filterset_fields = ["status", "driver", "frequency"]
    pagination_class = CursorPagination
    # Each backed by an index (migration 0006); loan_number by its unique constraint.
    ordering_fields = ["created_at", "principal", "loan_number"]
    ordering = ["-id"]
    required_permissions = {
        "list": VIEW_LOANS,
        "retrieve": VIEW_LOANS,
        "create": BOOK_LOANS,
        "cancel": "loans.change_driverloan",
    }

    def get_queryset(self):
        return selectors.loans_for_listing()

    def get_serializer_class(self):
        return LoanDetailSerializer if self.action == "retrieve" else LoanSerializer

    def get_object(self):
        loan = super().get_object()
        loan.schedule_rows = list(selectors.installments_with_payments().filter(loan=loan))
        return loan

    @extend_schema(
        request=LoanCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: LoanDetailSerializer, 404: OpenApiResponse(description="No such driver or lease.")},
    )
    def create(self, request: Request) -> Response:
        """Book a loan: schedule, disbursement entry, `loan.booked` event."""
        key = idempotency_key(request)
        serializer = LoanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def book() -> StoredResponse:
            data = dict(serializer.validated_data)
            if "product" in data:  # a code: its current version
                data["product_id"] = services.current_product(code=data.pop("product")).pk
            loan = services.create_driver_loan(created_by=acting_user(request), **data)
            loan = self.get_queryset().get(pk=loan.pk)
            loan.schedule_rows = list(selectors.installments_with_payments().filter(loan=loan))
            location = reverse("api:loan-detail", kwargs={"loan_number": loan.loan_number}, request=request)
            return StoredResponse(
                status=201, body=dict(LoanDetailSerializer(loan).data), headers={"Location": location}
            )

        return respond_once(book, key=key, scope=f"staff:{request.user.pk}:loans", payload=request.data)

    @extend_schema(request=CancelSerializer, responses={200: LoanSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, loan_number: str | None = None) -> Response:
        """Cancel a loan before any installment was posted (its disbursement is reversed)."""
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        loan = services.cancel_loan(
            loan_id=self.get_object().pk, reason=serializer.validated_data["reason"], actor=acting_user(request)
        )
        return Response(LoanSerializer(loan).data)


class LoanProductViewSet(StaffAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The current version of each loan product (Finance publishes versions in the admin), and the
    schedule preview: what booking these terms from the product would book."""

    lookup_field = "code"
    lookup_value_regex = r"[A-Za-z0-9-]{2,30}"
    serializer_class = LoanProductSerializer
    pagination_class = StandardPagination  # a handful of products
    required_permissions = {
        "list": "loans.view_loanproduct",
        "retrieve": "loans.view_loanproduct",
        "preview": BOOK_LOANS,
    }

    def get_queryset(self):
        return selectors.current_products()

    def get_object(self):
        product = self.get_queryset().filter(code=self.kwargs["code"].upper()).first()
        if product is None:
            raise HttpNotFound(f"No loan product {self.kwargs['code']}.")
        return product

    @extend_schema(request=LoanPreviewRequestSerializer, responses={200: LoanQuoteSerializer})
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, code: str | None = None) -> Response:
        """The whole schedule with totals, the fee and the cash disbursed; nothing is booked.
        Terms outside the product are a 400 naming each field, as booking them would be."""
        serializer = LoanPreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quote = services.preview_loan(product_id=self.get_object().pk, **serializer.validated_data)
        return Response(LoanQuoteSerializer(quote).data)


class PostingView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.post_installments"}

    @extend_schema(
        request=PostingRequestSerializer,
        responses={200: PostingResultSerializer, 202: PostingRunSerializer},
        description="Post the week's due installments. A dry run answers 200 with what would be posted; a real run "
        "answers 202 with the run (its chunks run on the workers; poll its Location). A real run of a week before "
        "the current one is a 400 `past_week_needs_approval`: ask for it with /loans/postings/past-week/.",
    )
    def post(self, request: Request) -> Response:
        serializer = PostingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        period_start, period_end = posting_week(data["week"]) if "week" in data else current_week()
        if data["dry_run"]:
            preview = services.preview_posting(period_start=period_start, period_end=period_end)
            return Response(PostingResultSerializer(preview.as_dict()).data)
        run = services.start_posting_run(
            period_start=period_start,
            period_end=period_end,
            chunk_size=data.get("chunk_size"),
            started_by=acting_user(request),
        )
        run = selectors.posting_runs().get(pk=run.pk)
        location = reverse("api:loan-posting-run-detail", kwargs={"pk": run.pk}, request=request)
        return Response(PostingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class PostingRunViewSet(StaffAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PostingRunSerializer
    required_permissions = {"list": "loans.view_installmentpostingrun", "retrieve": "loans.view_installmentpostingrun"}
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.posting_runs()


class DriverPaymentView(StaffAPIMixin, APIView):
    required_permissions = {"post": "ledger.record_payment"}

    @extend_schema(
        request=PaymentSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: PaymentResultSerializer, 200: OpenApiResponse(PaymentResultSerializer, description="A replay")},
        description="Record a driver's payment. The Idempotency-Key (your payment reference) is required: the same "
        "key replays the first result and never pays twice.",
    )
    def post(self, request: Request, driver_id: int) -> Response:
        key = idempotency_key(request, required=True)
        serializer = PaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.record_driver_payment(
            driver_id=driver_id,
            amount=data["amount"],
            received_on=data.get("received_on") or business_today(),
            idempotency_key=key,
            reference=data["reference"],
            created_by=acting_user(request),
        )
        replayed = result.payment.replayed
        return Response(
            PaymentResultSerializer(result).data,
            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if replayed else {},
        )


class DriverPaymentReversalView(StaffAPIMixin, APIView):
    required_permissions = {"post": "ledger.reverse_entry"}

    @extend_schema(
        request=CancelSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to reverse a driver's payment (a bounced cheque): the installments it paid become due "
        "again and the loans it settled active again. Below the action's threshold it is done at once (201, the "
        "request with its result); otherwise a second person approves it (202: the request, waiting in "
        "/approval-requests/). One request per payment waits at a time (409); a reversed payment is not "
        "reversed again (409).",
    )
    def post(self, request: Request, driver_id: int, entry_id: int) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asked = services.request_driver_payment_reversal(
            driver_id=driver_id,
            payment_entry_id=entry_id,
            reason=serializer.validated_data["reason"],
            requested_by=acting_user(request),
        )
        return approval_response(asked)


class LateFeeWaiverView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.waive_late_fee"}

    @extend_schema(
        request=CancelSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to waive a late fee (a reason is required): what is still outstanding of it is booked "
        "Dr 4200 late fee income / Cr the driver's PENALTY receivable and its open item closes as waived. Below "
        "the action's threshold it is done at once (201, the request with its result); otherwise a second person "
        "approves it (202: the request, waiting in /approval-requests/). One request per fee waits at a time "
        "(409); a waived or fully paid fee is refused (409); an unknown fee is 404.",
    )
    def post(self, request: Request, late_fee_id: int) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asked = services.request_late_fee_waiver(
            late_fee_id=late_fee_id, reason=serializer.validated_data["reason"], requested_by=acting_user(request)
        )
        return approval_response(asked)


class ReportView(StaffAPIMixin, APIView):
    required_permissions = {"get": VIEW_LOANS}

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(REPORTS)),
            OpenApiParameter(
                "export",
                str,
                enum=list(EXPORT_FORMATS),
                description="csv: stream the whole report instead of JSON (needs the export permission); xlsx is "
                "built by a worker: POST to the report's exports/.",
            ),
            OpenApiParameter("week", date, description="unposted: any day of the week"),
            OpenApiParameter("driver", int, description="unposted: only this driver's installments"),
            OpenApiParameter(
                "status",
                str,
                enum=[*LoanStatus.values, "all"],
                description="portfolio, portfolio-by-driver (default active)",
            ),
            OpenApiParameter("date_from", date),
            OpenApiParameter("date_to", date, description="posted-totals"),
            OpenApiParameter("as_of", date, description="aging"),
            OpenApiParameter(
                "delinquency_class", str, description="delinquency: one class's code (default every loan past due)"
            ),
            OpenApiParameter("page", int, description="JSON: the page, from 1."),
            OpenApiParameter(
                "after",
                str,
                description="JSON: the page after this cursor (a page's `next_after`): as fast at any depth, "
                "where a deep `page` walks every row before it.",
            ),
            OpenApiParameter(StandardPagination.page_size_query_param, int, description="JSON: rows a page."),
        ],
        responses={
            (200, "application/json"): ReportPageSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="?export=csv"),
            (200, XLSX_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="?export=xlsx"),
        },
    )
    def get(self, request: Request, name: str) -> HttpResponseBase:
        report = REPORTS.get(name)
        if report is None:
            raise HttpNotFound(f"No report {name!r}; reports: {', '.join(REPORTS)}.")
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        parameters = report.parse(request.query_params)
        export = query.validated_data.get("export")
        if export:
            if not request.user.has_perm(EXPORT_PERMISSION):
                raise PermissionDenied("Exporting needs the export permission.")
            if export != "csv":
                # A spreadsheet of a big report takes longer than a request may: a worker builds it.
                url = reverse("api:loan-report-exports", kwargs={"name": name}, request=request)
                raise ValidationError({"export": [f"XLSX files are built by a worker: POST {url} and poll the job."]})
            stamp = "-".join(str(value) for value in parameters.values() if value is not None) or str(business_today())
            return csv_response(
                filename=f"{report.name}-{stamp}", columns=report.columns, rows=report.rows(**parameters)
            )
        page_number, page_size = _page(request)
        cursor = request.query_params.get("after")
        if cursor:  # deep in a big report: keyset from the cursor of the previous page
            try:
                key, _ = keyset.decode_cursor(cursor, scope=request.path)
            except ValueError:
                raise ValidationError({"after": ["Not a cursor this report gave (its `next_after`)."]}) from None
            rows = report.after(parameters, key=key, limit=page_size + 1)  # one more: is there a next page?
        else:
            rows = report.page(parameters, offset=(page_number - 1) * page_size, limit=page_size + 1)
        has_next = len(rows) > page_size
        return Response(
            {
                "report": report.name,
                "title": report.title,
                "parameters": {key: _text(value) for key, value in parameters.items()},
                "columns": [{"key": key, "label": label} for key, label in report.columns],
                "page": page_number,
                "page_size": page_size,
                "has_next": has_next,
                "next_after": keyset.encode_cursor(rows[page_size - 1][KEY], scope=request.path) if has_next else None,
                "results": [{key: _text(row.get(key)) for key, _ in report.columns} for row in rows[:page_size]],
            }
        )


def _page(request: Request) -> tuple[int, int]:
    """Page number and size from the query, within StandardPagination's limits."""
    try:
        number = int(request.query_params.get("page", 1))
        size = min(
            int(request.query_params.get(StandardPagination.page_size_query_param, StandardPagination.page_size)),
            StandardPagination.max_page_size,
        )
    except ValueError:
        raise ValidationError({"page": ["Page and page_size are whole numbers."]}) from None
    if number < 1 or size < 1:
        raise ValidationError({"page": ["Page and page_size start at 1."]})
    return number, size


def _text(value):
    """Decimals and dates as strings (JSON never carries a money float)."""
    if value is None or isinstance(value, (int, bool, str)):
        return value
    return str(value)


class ReportExportView(StaffAPIMixin, APIView):
    required_permissions = {"post": EXPORT_PERMISSION}

    @extend_schema(
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(REPORTS))],
        request=ReportExportRequestSerializer,
        responses={202: ExportJobSerializer},
        description="Ask for the report as an XLSX file, built by a worker: 202 with the job (its Location); poll "
        "it until `status` is done, then GET its `download_url`. The body holds the report's parameters "
        "(week, driver, status, date_from, date_to, as_of), as its JSON page takes them.",
    )
    def post(self, request: Request, name: str) -> Response:
        if name not in REPORTS:
            raise HttpNotFound(f"No report {name!r}; reports: {', '.join(REPORTS)}.")
        serializer = ReportExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parameters = {key: str(value) for key, value in serializer.validated_data.items()}
        job = request_report_export(report=f"loans.{name}", parameters=parameters, requested_by=acting_user(request))
        body = ExportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
