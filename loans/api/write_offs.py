"""Staff API of write-offs and recoveries: ask to write a loan off (maker-checker), record money
recovered on a written-off loan (Idempotency-Key required, as payments), list the recoveries
(cursor pages), ask to reverse one (maker-checker). The report of written-off loans is /loans/reports/write-offs/ (CSV and XLSX too)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.approvals import ApprovalRequestSerializer, approval_response
from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from loanproject.core.api.pagination import CursorPagination
from loanproject.core.api.serializers import StrictFieldsMixin
from loanproject.core.auth import acting_user

from .. import selectors, services
from ..models import LoanRecovery
from ..periods import business_date_validator, business_today
from ..services.write_offs import WRITE_OFF_PERMISSION
from .serializers import CancelSerializer, money
from .views import StaffAPIMixin


class RecoveryRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    amount = money(min_value=0)
    received_on = serializers.DateField(required=False, validators=[business_date_validator])
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class LoanRecoverySerializer(serializers.ModelSerializer):
    loan_number = serializers.CharField(source="loan.loan_number", read_only=True)
    driver = serializers.IntegerField(source="loan.driver_id", read_only=True)
    driver_name = serializers.CharField(source="loan.driver.full_name", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)
    written_off = money(source="loan.write_off.total", read_only=True, help_text="What the loan's write-off gave up.")
    recovered = money(source="loan_recovered", read_only=True, help_text="Recovered on the loan so far, in all.")
    net_loss = serializers.SerializerMethodField(help_text="Written off less recovered so far.")

    class Meta:
        model = LoanRecovery
        fields = [
            "id",
            "loan",
            "loan_number",
            "driver",
            "driver_name",
            "amount",
            "received_on",
            "reference",
            "idempotency_key",
            "entry",
            "recorded_by",
            "recorded_at",
            "reversed_at",
            "written_off",
            "recovered",
            "net_loss",
        ]

    def get_net_loss(self, recovery: LoanRecovery) -> str:
        return str(recovery.loan.write_off.total - recovery.loan_recovered)


class LoanWriteOffView(StaffAPIMixin, APIView):
    required_permissions = {"post": WRITE_OFF_PERMISSION}

    @extend_schema(
        request=CancelSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to write a loan off (a reason is required): Dr 5100 loan losses / Cr the driver's "
        "receivables for the loan's unpaid billed items (they close as written off) and Cr 1300 for its principal "
        "not yet billed (its scheduled installments are cancelled); the loan becomes written_off. The request's "
        "amount is the total written off: below the action's threshold it is done at once (201, the request with "
        "its result); otherwise a second person approves it (202: the request, waiting in /approval-requests/). "
        "One request per loan waits at a time (409); a loan not active is refused (409); an unknown loan is 404.",
    )
    def post(self, request: Request, loan_number: str) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asked = services.request_loan_write_off(
            loan_id=selectors.loan_id_by_number(loan_number),
            reason=serializer.validated_data["reason"],
            requested_by=acting_user(request),
        )
        return approval_response(asked)


class LoanRecoveriesView(StaffAPIMixin, APIView):
    required_permissions = {"post": WRITE_OFF_PERMISSION}

    @extend_schema(
        request=RecoveryRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: LoanRecoverySerializer, 200: OpenApiResponse(LoanRecoverySerializer, description="A replay")},
        description="Record money received for a written-off loan: Dr 1000 cash / Cr 4950 recoveries income; the "
        "loan stays written off. The Idempotency-Key (the payment's reference) is required: the same key for the "
        "same loan replays the first recovery and never books twice. A loan not written off is refused (409).",
    )
    def post(self, request: Request, loan_number: str) -> Response:
        key = idempotency_key(request, required=True)
        serializer = RecoveryRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        done = services.record_loan_recovery(
            loan_id=selectors.loan_id_by_number(loan_number),
            amount=data["amount"],
            received_on=data.get("received_on") or business_today(),
            idempotency_key=key,
            reference=data["reference"],
            actor=acting_user(request),
        )
        recovery = selectors.loan_recoveries().get(pk=done.recovery.pk)
        return Response(
            LoanRecoverySerializer(recovery).data,
            status=status.HTTP_200_OK if done.replayed else status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if done.replayed else {},
        )


class LoanRecoveryListView(StaffAPIMixin, generics.ListAPIView):
    """Recoveries on written-off loans, newest first (`?ordering=received_on` for oldest first),
    each with its loan's write-off, what the loan recovered in all and its net loss; `?loan=<id>`."""

    serializer_class = LoanRecoverySerializer
    pagination_class = CursorPagination
    ordering_fields = ["received_on"]  # loan_recovery_received_idx
    ordering = ["-received_on"]
    filterset_fields = ["loan"]
    required_permissions = {"get": "loans.view_loanrecovery"}

    def get_queryset(self):
        return selectors.loan_recoveries()


class LoanRecoveryReversalView(StaffAPIMixin, APIView):
    required_permissions = {"post": "ledger.reverse_entry"}

    @extend_schema(
        request=CancelSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to reverse a recovery booked by mistake (a bounced cheque; a reason is required): the "
        "ledger's mirror entry Dr 4950 / Cr 1000, and the recovery counts for nothing. Below the action's "
        "threshold it is done at once (201, the request with its result); otherwise a second person approves it "
        "(202: the request, waiting in /approval-requests/). A reversed recovery is refused (409); an unknown one "
        "is 404.",
    )
    def post(self, request: Request, recovery_id: int) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asked = services.request_loan_recovery_reversal(
            recovery_id=recovery_id, reason=serializer.validated_data["reason"], requested_by=acting_user(request)
        )
        return approval_response(asked)
