"""Staff API of schedule changes: a loan's schedule versions with their installments, partial
prepayments (Idempotency-Key required: the payment's reference) and restructuring requests
(maker-checker: the answer is the approval request)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.approvals import ApprovalRequestSerializer, approval_response
from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from loanproject.core.api.serializers import StrictFieldsMixin
from loanproject.core.auth import acting_user

from .. import selectors, services
from ..models import MAX_INSTALLMENTS, MAX_INTEREST_RATE, Installment, LoanPrepayment, ScheduleVersion
from ..periods import business_date_validator, business_today
from ..schedule_version_models import PrepaymentMode
from ..services.restructuring import RestructuringKind
from .serializers import money
from .views import StaffAPIMixin


class VersionInstallmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Installment
        fields = ["id", "sequence", "due_date", "principal", "interest", "amount", "balance_after", "status"]


class ScheduleVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    installments = VersionInstallmentSerializer(many=True, read_only=True)

    class Meta:
        model = ScheduleVersion
        fields = [
            "id",
            "number",
            "kind",
            "from_sequence",
            "balance",
            "annual_interest_rate",
            "installment_count",
            "periods",
            "capitalised_interest",
            "capitalisation_entry",
            "reason",
            "created_by",
            "created_at",
            "installments",
        ]


class PrepaymentRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    amount = money(min_value=0, help_text="The whole payment: what is due is paid first, the rest prepays principal.")
    mode = serializers.ChoiceField(choices=PrepaymentMode.choices)
    received_on = serializers.DateField(required=False, validators=[business_date_validator])
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PrepaymentSerializer(serializers.ModelSerializer):
    schedule_version = ScheduleVersionSerializer(read_only=True)

    class Meta:
        model = LoanPrepayment
        fields = [
            "id",
            "loan",
            "mode",
            "received",
            "amount",
            "received_on",
            "reference",
            "payment_entry",
            "entry",
            "schedule_version",
        ]


class RestructuringRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=RestructuringKind.choices)
    periods = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_INSTALLMENTS, help_text="Holiday: periods skipped; extension: added."
    )
    new_rate = serializers.DecimalField(
        max_digits=6, decimal_places=3, required=False, min_value=0, max_value=MAX_INTEREST_RATE
    )
    capitalise = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Holiday: capitalise the skipped interest or waive it."
    )
    reason = serializers.CharField(max_length=500)


class ScheduleVersionsView(StaffAPIMixin, APIView):
    required_permissions = {"get": "loans.view_driverloan"}

    @extend_schema(
        responses={200: ScheduleVersionSerializer(many=True)},
        description="A loan's schedule versions, oldest first, each with its installments (cancelled ones of a "
        "superseded version included). Unknown loan: 404.",
    )
    def get(self, request: Request, loan_number: str) -> Response:
        versions = selectors.schedule_versions(loan_id=selectors.loan_id_by_number(loan_number))
        return Response(ScheduleVersionSerializer(versions, many=True).data)


class PrepaymentView(StaffAPIMixin, APIView):
    required_permissions = {"post": "ledger.record_payment"}

    @extend_schema(
        request=PrepaymentRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: PrepaymentSerializer, 200: OpenApiResponse(PrepaymentSerializer, description="A replay")},
        description="Record a payment that prepays principal: it pays what the driver owes first; the rest, up to "
        "the loan's unbilled principal, is billed (Dr LOANS / Cr 1300) and settled, and the unposted installments "
        "are re-amortized as a new schedule version (reduce_term: same installment, fewer; reduce_installment: "
        "same count, smaller). The Idempotency-Key (the payment's reference) is required: the same key replays "
        "the first result. Nothing beyond what is due: 400.",
    )
    def post(self, request: Request, loan_number: str) -> Response:
        key = idempotency_key(request, required=True)
        serializer = PrepaymentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        done = services.prepay_loan(
            loan_id=selectors.loan_id_by_number(loan_number),
            amount=data["amount"],
            received_on=data.get("received_on") or business_today(),
            mode=data["mode"],
            idempotency_key=key,
            reference=data["reference"],
            actor=acting_user(request),
        )
        return Response(
            PrepaymentSerializer(selectors.prepayment(prepayment_id=done.prepayment.pk)).data,
            status=status.HTTP_200_OK if done.replayed else status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if done.replayed else {},
        )


class RestructuringView(StaffAPIMixin, APIView):
    required_permissions = {"post": "loans.restructure_loan"}

    @extend_schema(
        request=RestructuringRequestSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to restructure a loan from its next unposted installment: a payment holiday (`periods` "
        "skipped, `capitalise` the interest of those periods into the balance, Dr 1300 / Cr 4100, or waive it), a "
        "term extension (`periods` added) or a rate change (`new_rate`, within the product's range). Below the "
        "action's threshold (the unbilled principal) it is done at once (201); otherwise a second person approves "
        "it (202: the request, waiting in /approval-requests/). One request per loan waits at a time (409).",
    )
    def post(self, request: Request, loan_number: str) -> Response:
        serializer = RestructuringRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        asked = services.request_loan_restructuring(
            loan_id=selectors.loan_id_by_number(loan_number),
            kind=data["kind"],
            periods=data.get("periods"),
            new_rate=data.get("new_rate"),
            capitalise=data.get("capitalise"),
            reason=data["reason"],
            requested_by=acting_user(request),
        )
        return approval_response(asked)
