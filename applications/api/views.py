"""Partner API views: parse, call a service or selector, present. Scoped to the caller's partner."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, StoredResponse, idempotency_key, respond_once
from loanproject.core.api.pagination import CursorPagination
from loanproject.core.errors import NotFound

from .. import selectors, services
from .authentication import PartnerAPIMixin
from .filters import ApplicationFilter
from .serializers import (
    ApplicationAcceptedSerializer,
    ApplicationCreateSerializer,
    ApplicationSerializer,
    ApplicationStatsSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    WithdrawSerializer,
)


class ApplicationViewSet(PartnerAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter
    pagination_class = CursorPagination
    # Each backed by an index (partner, field, id): migration 0010.
    ordering_fields = ["submitted_at", "requested_amount", "updated_at"]
    ordering = ["-submitted_at", "-id"]

    def get_queryset(self):
        return selectors.applications_visible_to(self.partner)

    @extend_schema(
        request=ApplicationCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: ApplicationAcceptedSerializer, 409: OpenApiResponse(description="Conflict")},
    )
    def create(self, request: Request) -> Response:
        """Submit an application; it is scored in the background (poll its status)."""
        key = idempotency_key(request)
        partner = self.partner
        assert partner is not None  # IsPartner admits partners only
        serializer = ApplicationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer, application = serializer.to_data()

        def submit() -> StoredResponse:
            created = services.submit_application(partner=partner, customer=customer, application=application)
            location = reverse("api:application-detail", kwargs={"pk": created.pk}, request=request)
            return StoredResponse(
                status=status.HTTP_202_ACCEPTED,
                body=dict(ApplicationAcceptedSerializer(created).data),
                headers={"Location": location},
            )

        return respond_once(submit, key=key, scope=f"partner:{partner.pk}:applications", payload=request.data)

    @extend_schema(request=WithdrawSerializer, responses={200: ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """Withdraw an open application; `version` must be the one you last read (else 409)."""
        serializer = WithdrawSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        application = services.withdraw_application(
            application_id=pk,
            expected_version=serializer.validated_data["version"],
            reason=serializer.validated_data["reason"],
            partner=self.partner,
        )
        return Response(ApplicationSerializer(application).data)

    @extend_schema(
        responses={200: ApplicationStatsSerializer},
        filters=True,
        description="Counts by status and the top customers by approved amount (filters apply). The figures "
        f"may be up to {selectors.STATS_CACHE_SECONDS} seconds old: they are computed once in that time "
        "for the same partner and filters.",
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def stats(self, request: Request) -> Response:
        partner = self.partner
        assert partner is not None  # IsPartner admits partners only
        filters = {
            name: values for name, values in request.query_params.lists() if name in ApplicationFilter.base_filters
        }
        body = selectors.application_stats(partner, self.filter_queryset(self.get_queryset()), filters=filters)
        return Response(ApplicationStatsSerializer(body).data)


class CustomerViewSet(PartnerAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CustomerSerializer
    pagination_class = CursorPagination
    # Each backed by an index (partner, field, id): migration 0010.
    ordering_fields = ["created_at", "full_name"]
    ordering = ["-id"]
    filterset_fields = ["external_ref", "email"]

    def get_queryset(self):
        return selectors.customers_visible_to(self.partner)

    @extend_schema(request=CustomerUpdateSerializer, responses={200: CustomerSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change contact details or the PAN of one of your customers."""
        serializer = CustomerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.update_customer(
            customer_id=_int_or_404(pk), partner=self.partner, **serializer.validated_data
        )
        return Response(CustomerSerializer(customer).data)


def _int_or_404(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise NotFound("No such customer.") from None
