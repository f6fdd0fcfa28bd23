"""Partner API for personal finance: parse, call a service or selector, present.

Every queryset is scoped to the caller's own customers (selectors.*_visible_to), so another
partner's ids answer 404 exactly like ids that do not exist; ids in a request body answer 400
"No such ..." the same way for both.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from applications.api.authentication import PartnerAPIMixin
from applications.selectors import customers_visible_to
from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, StoredResponse, idempotency_key, respond_once
from loanproject.core.api.pagination import CursorPagination
from loanproject.core.api.parsers import DecimalJSONParser, StorableFormParser, StorableMultiPartParser
from loanproject.core.auth import acting_user
from loanproject.core.errors import NotFound

from .. import selectors, services
from ..models import ALLOWED_CONTENT_TYPES
from ..services.imports import RowError, TransactionInput
from ..validators import validate_date_in_range
from . import filters
from .serializers import (
    AccountCreateSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    BankConnectionCreateSerializer,
    BankConnectionSerializer,
    BankConnectionUpdateSerializer,
    BudgetSerializer,
    BudgetUpdateSerializer,
    BudgetWriteSerializer,
    ContributionSerializer,
    CsvUploadSerializer,
    DocumentDataSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    FinanceSummarySerializer,
    GoalSerializer,
    GoalUpdateSerializer,
    GoalWriteSerializer,
    ImportReportSerializer,
    NetWorthSnapshotSerializer,
    SnapshotCreateSerializer,
    SyncSerializer,
    TransactionBulkCreateDocSerializer,
    TransactionBulkCreateSerializer,
    TransactionItemSerializer,
    TransactionSerializer,
)

ON_PARAMETER = OpenApiParameter("on", date, description="The day the figures are for (default: today).")


def _pk(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None


def _day(request: Request, name: str = "on") -> date | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: ["Use YYYY-MM-DD."]}) from None
    try:
        validate_date_in_range(day)
    except DjangoValidationError as exc:
        raise ValidationError({name: exc.messages}) from None
    return day


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class FinanceViewSet(PartnerAPIMixin, viewsets.GenericViewSet):
    ordering = ["-id"]

    def get_object(self):
        # Look the id up in the partner's scope only; a malformed id is simply not found.
        self.kwargs[self.lookup_field] = _pk(self.kwargs.get(self.lookup_field))
        return super().get_object()


# --- Connections -------------------------------------------------------------------------------


class BankConnectionViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = BankConnectionSerializer
    filterset_class = filters.BankConnectionFilter
    ordering_fields = ["created_at", "last_synced_at"]

    def get_queryset(self):
        return selectors.connections_visible_to(self.partner).annotate(
            token_on_file=ExpressionWrapper(Q(access_token__isnull=False), output_field=BooleanField())
        )

    @extend_schema(request=BankConnectionCreateSerializer, responses={201: BankConnectionSerializer})
    def create(self, request: Request) -> Response:
        """Link a customer's bank; the access token is stored encrypted and never returned."""
        data = _validated(BankConnectionCreateSerializer, request.data)
        connection = services.connect_bank(
            partner=self.partner,
            customer_id=data["customer"],
            provider=data["provider"],
            institution_name=data["institution_name"],
            institution_id=data["institution_id"],
            item_id=data["item_id"],
            access_token=data["access_token"] or None,
        )
        return Response(BankConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BankConnectionUpdateSerializer, responses={200: BankConnectionSerializer})
    def partial_update(self, request: Request, pk=None) -> Response:
        """Rename, send the new token after re-authentication, or report the link's status."""
        data = _validated(BankConnectionUpdateSerializer, request.data)
        connection = services.update_bank_connection(connection_id=_pk(pk), partner=self.partner, **data)
        return Response(BankConnectionSerializer(connection).data)

    @extend_schema(request=None, responses={200: BankConnectionSerializer})
    @action(detail=True, methods=["post"])
    def disconnect(self, request: Request, pk=None) -> Response:
        """End the link and destroy its token; accounts and transactions stay."""
        connection = services.disconnect_bank(connection_id=_pk(pk), partner=self.partner)
        return Response(BankConnectionSerializer(connection).data)

    @extend_schema(request=SyncSerializer, responses={200: BankConnectionSerializer})
    @action(detail=True, methods=["post"])
    def synced(self, request: Request, pk=None) -> Response:
        """Report a finished sync with the provider: stamps last_synced_at; an error marks the link."""
        data = _validated(SyncSerializer, request.data)
        connection = services.record_connection_sync(connection_id=_pk(pk), partner=self.partner, error=data["error"])
        return Response(BankConnectionSerializer(connection).data)

    @extend_schema(request={"multipart/form-data": CsvUploadSerializer}, responses={200: ImportReportSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="import-csv",
        parser_classes=[StorableMultiPartParser, StorableFormParser],
    )
    def import_csv(self, request: Request, pk=None) -> Response:
        """Import a CSV export of this connection; idempotent, bad lines reported, good ones kept."""
        data = _validated(CsvUploadSerializer, request.data)
        upload = data["file"]
        report = services.import_transactions_csv(
            connection_id=_pk(pk),
            csv_file=upload.file,
            source_name=upload.name or "",
            partner=self.partner,
            started_by=acting_user(request),
        )
        return Response(report.as_dict(position_key="line"))


# --- Accounts ----------------------------------------------------------------------------------


class AccountViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = AccountSerializer
    filterset_class = filters.AccountFilter
    ordering_fields = ["created_at", "current_balance", "name"]

    def get_queryset(self):
        return selectors.accounts_visible_to(self.partner, include_closed=True)

    @extend_schema(request=AccountCreateSerializer, responses={201: AccountSerializer})
    def create(self, request: Request) -> Response:
        data = dict(_validated(AccountCreateSerializer, request.data))
        connection_id = data.pop("connection")
        account = services.open_account(
            connection_id=connection_id, partner=self.partner, data=services.AccountData(**data)
        )
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountUpdateSerializer, responses={200: AccountSerializer})
    def partial_update(self, request: Request, pk=None) -> Response:
        """Update the name or the balances (send both when you sync)."""
        data = _validated(AccountUpdateSerializer, request.data)
        account = services.update_account(account_id=_pk(pk), partner=self.partner, **data)
        return Response(AccountSerializer(account).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk=None) -> Response:
        """Close the account: it and its transactions leave every list and figure (kept for audit)."""
        self.get_object()  # open accounts only: a closed one is already gone
        services.close_account(account_id=_pk(pk), partner=self.partner)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Transactions ------------------------------------------------------------------------------


def _item_error(index: int, errors: dict) -> RowError:
    """A refused item as an import error: ("amount: A valid number is required.", ...)."""
    return RowError(
        index,
        tuple(
            f"{field}: {message}"
            for field, messages in errors.items()
            for message in (messages if isinstance(messages, list) else [messages])
        ),
    )


class TransactionViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = TransactionSerializer
    filterset_class = filters.TransactionFilter
    # By cursor: no COUNT and no OFFSET over a million rows; each ordering has its index led by the
    # transaction's own partner column (transaction_partner_date, _amount, _imported).
    pagination_class = CursorPagination
    ordering_fields = ["date", "amount", "imported_at"]
    ordering = ["-date", "-id"]

    def get_queryset(self):
        return selectors.transactions_visible_to(self.partner)

    @extend_schema(
        request=TransactionBulkCreateDocSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: ImportReportSerializer, 409: OpenApiResponse(description="Idempotency-Key reused")},
    )
    def create(self, request: Request) -> Response:
        """Add up to 1000 transactions. A transaction already stored (same account and
        provider_transaction_id) is a duplicate and changes nothing, so resending is safe. Bad
        items are refused one by one, by index; the good ones are kept."""
        key = idempotency_key(request)
        partner = self.partner
        assert partner is not None  # IsPartner admits partners only
        envelope = _validated(TransactionBulkCreateSerializer, request.data)
        items: list[TransactionInput | RowError] = []
        for index, raw in enumerate(envelope["transactions"]):
            item = TransactionItemSerializer(data=raw)
            if item.is_valid():
                values = dict(item.validated_data)
                items.append(TransactionInput(account_id=values.pop("account"), **values))
            else:
                items.append(_item_error(index, item.errors))

        def run() -> StoredResponse:
            report = services.import_transactions(
                transactions=items,
                partner=partner,
                started_by=acting_user(request),
                source_name=f"API, Idempotency-Key {key}" if key else "API",
            )
            return StoredResponse(status=status.HTTP_200_OK, body=report.as_dict(position_key="index"))

        return respond_once(run, key=key, scope=f"partner:{partner.pk}:finance-transactions", payload=request.data)


# --- Budgets -----------------------------------------------------------------------------------


class BudgetViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = BudgetSerializer
    filterset_class = filters.BudgetFilter
    ordering_fields = ["start_date", "created_at", "name"]

    def get_queryset(self):
        return selectors.budgets_visible_to(self.partner)

    def _present(self, budgets) -> list[dict]:
        budgets = list(budgets)
        actuals = selectors.budget_actuals(budgets, on=_day(self.request))
        return BudgetSerializer(budgets, many=True, context={"actuals": actuals}).data  # type: ignore[return-value]  # drf-stubs type many=True data as ReturnDict; it is a ReturnList

    @extend_schema(parameters=[ON_PARAMETER])
    def list(self, request: Request) -> Response:
        """Your customers' budgets, each with its actual spending for the period containing ?on=."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._present(page))

    @extend_schema(parameters=[ON_PARAMETER])
    def retrieve(self, request: Request, pk=None) -> Response:
        return Response(self._present([self.get_object()])[0])

    def _reloaded(self, budget_id: int) -> dict:
        return self._present(self.get_queryset().filter(pk=budget_id))[0]

    @extend_schema(request=BudgetWriteSerializer, responses={201: BudgetSerializer})
    def create(self, request: Request) -> Response:
        data = dict(_validated(BudgetWriteSerializer, request.data))
        budget = services.create_budget(partner=self.partner, customer_id=data.pop("customer"), **data)
        return Response(self._reloaded(budget.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=BudgetUpdateSerializer, responses={200: BudgetSerializer})
    def partial_update(self, request: Request, pk=None) -> Response:
        """Change any part; `limits` replaces the whole set."""
        data = _validated(BudgetUpdateSerializer, request.data)
        budget = services.update_budget(budget_id=_pk(pk), partner=self.partner, **data)
        return Response(self._reloaded(budget.pk))

    def destroy(self, request: Request, pk=None) -> Response:
        services.delete_budget(budget_id=_pk(pk), partner=self.partner)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Goals -------------------------------------------------------------------------------------


class GoalViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = GoalSerializer
    filterset_class = filters.GoalFilter
    ordering_fields = ["target_date", "created_at", "priority"]
    ordering = ["target_date", "id"]

    def get_queryset(self):
        return selectors.goals_visible_to(self.partner)

    def get_serializer_context(self):
        as_of = _day(self.request, "as_of")
        return super().get_serializer_context() | {"progress": lambda goal: selectors.goal_progress(goal, as_of=as_of)}

    def _present(self, goal) -> dict:
        return GoalSerializer(goal, context=self.get_serializer_context()).data

    @extend_schema(request=GoalWriteSerializer, responses={201: GoalSerializer})
    def create(self, request: Request) -> Response:
        data = dict(_validated(GoalWriteSerializer, request.data))
        goal = services.create_goal(partner=self.partner, customer_id=data.pop("customer"), **data)
        return Response(self._present(goal), status=status.HTTP_201_CREATED)

    @extend_schema(request=GoalUpdateSerializer, responses={200: GoalSerializer})
    def partial_update(self, request: Request, pk=None) -> Response:
        data = _validated(GoalUpdateSerializer, request.data)
        goal = services.update_goal(goal_id=_pk(pk), partner=self.partner, **data)
        return Response(self._present(goal))

    @extend_schema(request=ContributionSerializer, responses={200: GoalSerializer})
    @action(detail=True, methods=["post"])
    def contribute(self, request: Request, pk=None) -> Response:
        """Add to the savings (negative: withdraw)."""
        data = _validated(ContributionSerializer, request.data)
        goal = services.contribute_to_goal(goal_id=_pk(pk), partner=self.partner, amount=data["amount"])
        return Response(self._present(goal))

    def destroy(self, request: Request, pk=None) -> Response:
        services.delete_goal(goal_id=_pk(pk), partner=self.partner)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Snapshots ---------------------------------------------------------------------------------


class NetWorthSnapshotViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = NetWorthSnapshotSerializer
    filterset_class = filters.SnapshotFilter
    ordering_fields = ["date", "net_worth"]
    ordering = ["-date", "-id"]

    def get_queryset(self):
        return selectors.snapshots_visible_to(self.partner)

    @extend_schema(
        request=SnapshotCreateSerializer, responses={201: NetWorthSnapshotSerializer, 200: NetWorthSnapshotSerializer}
    )
    def create(self, request: Request) -> Response:
        """Take the customer's snapshot for the day; if it exists, it is returned (200) unchanged."""
        data = _validated(SnapshotCreateSerializer, request.data)
        snapshot, created = services.take_net_worth_snapshot(
            customer_id=data["customer"], on=data["date"], partner=self.partner
        )
        return Response(
            NetWorthSnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --- Documents ---------------------------------------------------------------------------------


class DocumentViewSet(FinanceViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = DocumentSerializer
    filterset_class = filters.DocumentFilter
    ordering_fields = ["uploaded_at"]
    parser_classes = [DecimalJSONParser, StorableMultiPartParser, StorableFormParser]

    def get_queryset(self):
        return selectors.documents_visible_to(self.partner)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={201: DocumentSerializer, 200: DocumentSerializer},
    )
    def create(self, request: Request) -> Response:
        """Upload a PDF, JPEG or PNG; the same file again returns the first upload (200)."""
        data = _validated(DocumentUploadSerializer, request.data)
        upload = data["file"]
        document, created = services.upload_document(
            partner=self.partner,
            customer_id=data["customer"],
            document_type=data["document_type"],
            file=upload.file,
            original_name=upload.name or "",
            declared_content_type=getattr(upload, "content_type", None),
            extracted_data=data["extracted_data"],
        )
        return Response(
            DocumentSerializer(document).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=DocumentDataSerializer, responses={200: DocumentSerializer})
    def partial_update(self, request: Request, pk=None) -> Response:
        """Replace the data read from the document."""
        data = _validated(DocumentDataSerializer, request.data)
        document = services.update_document_data(document_id=_pk(pk), partner=self.partner, **data)
        return Response(DocumentSerializer(document).data)

    @extend_schema(
        responses={
            (200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file")
            for content_type in ALLOWED_CONTENT_TYPES
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk=None) -> FileResponse:
        document = self.get_object()
        return FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name or document.file.name.rsplit("/", 1)[-1],
            content_type=document.content_type,
        )


# --- A customer's finances ---------------------------------------------------------------------


class CustomerFinanceViewSet(FinanceViewSet):
    serializer_class = FinanceSummarySerializer

    def get_queryset(self):
        return customers_visible_to(self.partner)

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", date),
            OpenApiParameter("months", int, description="Cash-flow months (1-24, default 6)."),
        ],
        responses={200: FinanceSummarySerializer},
    )
    @action(detail=True, methods=["get"])
    def summary(self, request: Request, pk=None) -> Response:
        """Estimated monthly income, current net worth and monthly cash flow of one customer."""
        customer = self.get_object()
        as_of = _day(request, "as_of") or timezone.localdate()
        try:
            months = int(request.query_params.get("months", 6))
        except ValueError:
            months = 0
        if not 1 <= months <= 24:
            raise ValidationError({"months": ["A whole number from 1 to 24."]})
        figures = selectors.net_worth_by_customer(customer_ids=[customer.pk]).get(customer.pk)
        body = {
            "customer": customer.pk,
            "as_of": as_of,
            "estimated_monthly_income": selectors.estimated_monthly_income(customer_id=customer.pk, as_of=as_of),
            "net_worth": figures.net_worth if figures else None,
            "total_assets": figures.total_assets if figures else None,
            "total_liabilities": figures.total_liabilities if figures else None,
            "cash_flow": selectors.monthly_cash_flow(customer_id=customer.pk, months=months, as_of=as_of),
        }
        return Response(FinanceSummarySerializer(body).data)
