"""Staff API for the driver's charges: file imports of tolls, parking violations and TLC tickets,
the queue of unmatched charges, MISC charges and credits. Thin doors over loans.services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from loanproject.core.api.pagination import CursorPagination
from loanproject.core.api.parsers import StorableFormParser, StorableMultiPartParser
from loanproject.core.api.serializers import StrictFieldsMixin, StrictIntegerField
from loanproject.core.auth import acting_user

from .. import services
from ..models import AdjustmentKind, ChargeImport, ChargeKind, DriverAdjustment, ImportedCharge
from ..periods import business_date_validator
from .serializers import money
from .views import StaffAPIMixin

VIEW_CHARGES = "loans.view_importedcharge"


class ChargeImportRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChargeKind.choices)
    file = serializers.FileField(help_text='CSV: see the README\'s "Driver charges" for the columns.')


class ChargeImportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChargeImport
        fields = [
            "id",
            "kind",
            "source_name",
            "rows_read",
            "booked",
            "unmatched",
            "duplicates",
            "rejected",
            "errors",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportedChargeSerializer(serializers.ModelSerializer):
    amount = money(read_only=True)

    class Meta:
        model = ImportedCharge
        fields = [
            "id",
            "kind",
            "external_id",
            "charge_date",
            "amount",
            "description",
            "plate",
            "medallion",
            "licence",
            "status",
            "driver",
            "entry",
            "booked_at",
            "charge_import",
        ]
        read_only_fields = fields


class AssignmentSerializer(StrictFieldsMixin, serializers.Serializer):
    driver = StrictIntegerField(min_value=1)


class AdjustmentRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=AdjustmentKind.choices)
    amount = money(min_value=0)
    reason = serializers.CharField(max_length=255, help_text="Required: why the driver is charged or credited.")
    effective_on = serializers.DateField(required=False, validators=[business_date_validator])


class AdjustmentSerializer(serializers.ModelSerializer):
    amount = money(read_only=True)

    class Meta:
        model = DriverAdjustment
        fields = ["id", "driver", "kind", "amount", "reason", "effective_on", "entry", "created_at"]
        read_only_fields = fields


class ChargeImportView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.import_charges"}
    parser_classes = [StorableMultiPartParser, StorableFormParser]

    @extend_schema(
        request={"multipart/form-data": ChargeImportRequestSerializer},
        responses={201: ChargeImportSerializer},
        description="Import a CSV file of EZPASS, PVB or TLC charges. Matched rows are booked, unmatched ones "
        "queued, rows imported before skipped; refused rows are listed with their line.",
    )
    def post(self, request: Request) -> Response:
        serializer = ChargeImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind, upload = serializer.validated_data["kind"], serializer.validated_data["file"]
        record = services.import_charges(
            kind=kind, rows=services.read_csv(kind, upload), source_name=upload.name, started_by=acting_user(request)
        )
        return Response(ChargeImportSerializer(record).data, status=status.HTTP_201_CREATED)


class ImportedChargeViewSet(StaffAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imported charges; `?status=unmatched` is the queue."""

    queryset = ImportedCharge.objects.all()
    lookup_value_regex = r"[0-9]+"  # anything else is a 404 before int() sees it
    serializer_class = ImportedChargeSerializer
    filterset_fields = ["status", "kind", "driver"]
    pagination_class = CursorPagination
    ordering_fields: list[str] = []
    ordering = ["-id"]
    required_permissions = {"list": VIEW_CHARGES, "retrieve": VIEW_CHARGES, "assignment": "loans.change_importedcharge"}

    @extend_schema(
        request=AssignmentSerializer,
        responses={200: ImportedChargeSerializer, 409: OpenApiResponse(description="Already booked")},
        description="Resolve an unmatched charge: it is the driver's, and is booked now.",
    )
    @action(detail=True, methods=["post"])
    def assignment(self, request: Request, pk: str) -> Response:
        serializer = AssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        charge = services.assign_imported_charge(
            charge_id=int(pk), driver_id=serializer.validated_data["driver"], assigned_by=acting_user(request)
        )
        return Response(ImportedChargeSerializer(charge).data)


class DriverAdjustmentView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.add_driveradjustment"}

    @extend_schema(
        request=AdjustmentRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: AdjustmentSerializer},
        description="Add a MISC charge or a credit to the driver's account, with its reason. With an "
        "Idempotency-Key, the same key returns the adjustment booked first.",
    )
    def post(self, request: Request, driver_id: int) -> Response:
        key = idempotency_key(request, required=False)
        serializer = AdjustmentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        adjustment = services.add_driver_adjustment(
            driver_id=driver_id,
            kind=data["kind"],
            amount=data["amount"],
            reason=data["reason"],
            effective_on=data.get("effective_on"),
            created_by=acting_user(request),
            idempotency_key=key,
        )
        return Response(AdjustmentSerializer(adjustment).data, status=status.HTTP_201_CREATED)
