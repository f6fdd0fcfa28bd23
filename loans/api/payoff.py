"""The payoff on the staff API: the quote (JSON, or ?export=pdf) and the settlement."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from loanproject.core.api.serializers import StrictFieldsMixin
from loanproject.core.auth import acting_user

from .. import payoff_doors, selectors, services
from ..payoff import payoff_quote
from ..payoff_models import SETTLE_PAYOFF_PERMISSION
from ..periods import business_date_validator, business_today
from .serializers import money
from .views import StaffAPIMixin


class PayoffBilledItemSerializer(serializers.Serializer):
    open_item_id = serializers.IntegerField()
    kind = serializers.CharField(help_text="installment, late fee, origination fee or payoff")
    reference = serializers.CharField()
    due_date = serializers.DateField()
    outstanding = money()


class PayoffPeriodSerializer(serializers.Serializer):
    installment_sequence = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    days_elapsed = serializers.IntegerField()
    days = serializers.IntegerField()
    interest_of_period = money()


class PayoffQuoteSerializer(serializers.Serializer):
    loan_number = serializers.CharField(source="loan.loan_number")
    as_of = serializers.DateField()
    valid_until = serializers.DateField(help_text="Paid on or before this day, the total settles the loan.")
    principal = money(help_text="Principal not yet billed.")
    interest = money(help_text="Interest to the payoff date, pro rata by days.")
    period = PayoffPeriodSerializer(allow_null=True, help_text="The period accruing on the payoff date.")
    billed_items = PayoffBilledItemSerializer(many=True)
    billed_total = money()
    total = money()
    credit = money(help_text="The driver's credit: shown, not deducted.")


class PayoffRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    amount = money(min_value=0)
    received_on = serializers.DateField(required=False, validators=[business_date_validator])
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class LoanPayoffSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="payoff.pk")
    loan_number = serializers.CharField(source="payoff.loan.loan_number")
    as_of = serializers.DateField(source="payoff.as_of")
    principal = money(source="payoff.principal")
    interest = money(source="payoff.interest")
    billed_items = money(source="payoff.billed_items")
    total = money(source="payoff.total")
    amount_paid = money(source="payoff.amount_paid")
    credit = money(help_text="Paid above the total: the driver's credit.")
    payoff_entry_id = serializers.IntegerField(source="payoff.payoff_entry_id", allow_null=True)
    payment_entry_id = serializers.IntegerField(source="payoff.payment_entry_id")
    reference = serializers.CharField(source="payoff.reference")
    settled_at = serializers.DateTimeField(source="payoff.settled_at")


class PayoffQuoteView(StaffAPIMixin, APIView):
    required_permissions = {"get": payoff_doors.VIEW_PAYOFF}

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="The payoff date; default: today."),
            OpenApiParameter("export", str, enum=["pdf"], description="The quote as a PDF instead of JSON."),
        ],
        responses={
            (200, "application/json"): PayoffQuoteSerializer,
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="?export=pdf"),
            404: OpenApiResponse(description="No such loan."),
            409: OpenApiResponse(description="The loan is not active."),
        },
        description="What the driver pays on `as_of` to settle the loan: principal not yet billed, interest of the "
        "current period to that day (pro rata by days), the loan's billed items still unpaid, their total; valid "
        "until `as_of`. Amounts are strings. A date before the loan's last posting, or more than 60 days ahead, is "
        "a 400.",
    )
    def get(self, request: Request, loan_number: str) -> HttpResponseBase:
        try:
            query = payoff_doors.PayoffQuery(request.query_params).parsed()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        quote = payoff_quote(loan_id=selectors.loan_id_by_number(loan_number), as_of=query["as_of"])
        if query["export"] == "pdf":
            return payoff_doors.pdf_file(quote)
        return Response(PayoffQuoteSerializer(quote).data)


class PayoffView(StaffAPIMixin, APIView):
    required_permissions = {"post": SETTLE_PAYOFF_PERMISSION}

    @extend_schema(
        request=PayoffRequestSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: LoanPayoffSerializer,
            200: OpenApiResponse(LoanPayoffSerializer, description="A replay"),
            404: OpenApiResponse(description="No such loan."),
            409: OpenApiResponse(description="The loan is not active, or was paid off before."),
        },
        description="Settle the loan by payoff: the amount received on `received_on` (default today) must be at "
        "least the payoff quote of that day (400 on `amount` otherwise, nothing booked). The rest of the "
        "principal and the interest to that day are billed, the scheduled installments cancelled, the loan's "
        "items paid, the loan closed; above the quote is the driver's credit. The Idempotency-Key is required: "
        "the same key replays the first result.",
    )
    def post(self, request: Request, loan_number: str) -> Response:
        key = idempotency_key(request, required=True)
        serializer = PayoffRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        settlement = services.settle_loan_by_payoff(
            loan_id=selectors.loan_id_by_number(loan_number),
            amount=data["amount"],
            received_on=data.get("received_on") or business_today(),
            idempotency_key=key,
            reference=data["reference"],
            actor=acting_user(request),
        )
        replayed = settlement.replayed
        return Response(
            LoanPayoffSerializer(settlement).data,
            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true"} if replayed else {},
        )
