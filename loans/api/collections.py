"""Staff API of collections: the queue of delinquent drivers (cursor pages, by amount or days),
assigning a collector (Finance), a driver's notes and promises to pay (collectors, Finance).

Each write is a service; POSTs take an optional Idempotency-Key (the same key replays the first
answer, so a retried request never adds a note or a promise twice)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, StoredResponse, idempotency_key, respond_once
from loanproject.core.api.pagination import CursorPagination
from loanproject.core.auth import acting_user

from .. import selectors, services
from ..collections_models import CollectionCase, CollectionNote, PromiseToPay
from ..collections_workspace import cases_listed_for
from .views import StaffAPIMixin


class CollectionCaseSerializer(serializers.ModelSerializer):
    driver_name = serializers.CharField(source="driver.full_name", read_only=True)
    tlc_license_number = serializers.CharField(source="driver.tlc_license_number", read_only=True)
    delinquency_class = serializers.CharField(source="delinquency_class.code", default=None, read_only=True)
    collector_username = serializers.CharField(source="collector.username", default=None, read_only=True)

    class Meta:
        model = CollectionCase
        fields = [
            "driver",
            "driver_name",
            "tlc_license_number",
            "days_past_due",
            "overdue_amount",
            "delinquency_class",
            "as_of",
            "collector",
            "collector_username",
            "assigned_at",
        ]


class CollectorAssignmentSerializer(serializers.Serializer):
    collector = serializers.IntegerField(allow_null=True, help_text="A collector's user id; null to unassign.")


class CollectionNoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = CollectionNote
        fields = ["id", "driver", "body", "author", "created_at"]
        read_only_fields = ["id", "driver", "author", "created_at"]


class PromiseToPaySerializer(serializers.ModelSerializer):
    taken_by = serializers.CharField(source="taken_by.username", read_only=True)

    class Meta:
        model = PromiseToPay
        fields = [
            "id",
            "driver",
            "amount",
            "promised_for",
            "taken_on",
            "taken_by",
            "taken_at",
            "status",
            "settled_on",
            "paid_amount",
        ]
        read_only_fields = ["id", "driver", "taken_on", "taken_by", "taken_at", "status", "settled_on", "paid_amount"]


class CollectionQueueView(StaffAPIMixin, generics.ListAPIView):
    """Delinquent drivers, largest overdue amount first (`?ordering=-days_past_due` for days);
    `?collector=<id>`, `?collector__isnull=true` (unassigned), `?delinquency_class=<id>`. A
    collector sees only the drivers assigned to them."""

    serializer_class = CollectionCaseSerializer
    pagination_class = CursorPagination
    # Each backed by a partial index of the queue (amount or days, with the driver).
    ordering_fields = ["overdue_amount", "days_past_due"]
    ordering = ["-overdue_amount"]
    filterset_fields = {"collector": ["exact", "isnull"], "delinquency_class": ["exact"]}
    required_permissions = {"get": "loans.view_collectioncase"}

    def get_queryset(self):
        # A collector's queue is their round, as in the admin.
        return cases_listed_for(self.request.user, selectors.collections_queue())


class CollectionAssignmentView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.assign_collector"}

    @extend_schema(request=CollectorAssignmentSerializer, responses={200: CollectionCaseSerializer})
    def post(self, request: Request, driver_id: int) -> Response:
        """Give a delinquent driver to a collector (a staff member with the Collector role), or take
        them back (`null`). 404: the driver is not in the queue."""
        serializer = CollectorAssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.assign_collector(
            driver_id=driver_id, collector_id=serializer.validated_data["collector"], assigned_by=acting_user(request)
        )
        case = CollectionCase.objects.select_related("driver", "delinquency_class", "collector").get(pk=driver_id)
        return Response(CollectionCaseSerializer(case).data)


class _DriverRecordView(StaffAPIMixin, generics.ListAPIView):
    pagination_class = CursorPagination
    ordering = ["-id"]
    ordering_fields: list[str] = []

    scope = ""

    def create_once(self, request: Request, driver_id: int, save: Any) -> Response:
        key = idempotency_key(request)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def once() -> StoredResponse:
            created = save(dict(serializer.validated_data))
            return StoredResponse(status=201, body=dict(self.get_serializer(created).data))

        scope = f"staff:{request.user.pk}:{self.scope}:{driver_id}"
        return respond_once(once, key=key, scope=scope, payload=request.data)


class CollectionNotesView(_DriverRecordView):
    """A driver's collections notes, newest first; POST appends one (notes never change)."""

    serializer_class = CollectionNoteSerializer
    required_permissions = {"get": "loans.view_collectionnote", "post": "loans.add_collectionnote"}
    scope = "collection-notes"

    queryset = CollectionNote.objects.none()  # the schema's model; requests read get_queryset()

    def get_queryset(self):
        return selectors.collection_notes(driver_id=self.kwargs["driver_id"])

    @extend_schema(
        request=CollectionNoteSerializer, parameters=[IDEMPOTENCY_HEADER], responses={201: CollectionNoteSerializer}
    )
    def post(self, request: Request, driver_id: int) -> Response:
        user = acting_user(request)
        return self.create_once(
            request, driver_id, lambda data: services.add_collection_note(driver_id=driver_id, author=user, **data)
        )


class PromisesToPayView(_DriverRecordView):
    """A driver's promises to pay, newest first; POST records one, taken today (New York time)."""

    serializer_class = PromiseToPaySerializer
    required_permissions = {"get": "loans.view_promisetopay", "post": "loans.add_promisetopay"}
    scope = "promises-to-pay"
    queryset = PromiseToPay.objects.none()  # the schema's model; requests read get_queryset()

    def get_queryset(self):
        return selectors.promises_to_pay(driver_id=self.kwargs["driver_id"])

    @extend_schema(
        request=PromiseToPaySerializer, parameters=[IDEMPOTENCY_HEADER], responses={201: PromiseToPaySerializer}
    )
    def post(self, request: Request, driver_id: int) -> Response:
        user = acting_user(request)
        return self.create_once(
            request, driver_id, lambda data: services.record_promise_to_pay(driver_id=driver_id, taken_by=user, **data)
        )
