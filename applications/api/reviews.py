"""Staff API for the review workflow: the caller's queue and decisions (session or token auth)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.serializers import StrictDecimalField, StrictFieldsMixin, StrictIntegerField
from loanproject.core.auth import acting_user

from .. import selectors, services
from ..models import LoanApplication
from ..reasons import REJECTION_CODES, reason
from .serializers import STAFF_READER, ApplicationSerializer


class CanReview(BasePermission):
    message = "Only loan officers and managers decide applications."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("applications.review_loanapplication")


class QueueItemSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.full_name", read_only=True)
    awaiting_confirmation = serializers.SerializerMethodField()

    class Meta:
        model = LoanApplication
        fields = [
            "id",
            "status",
            "version",
            "customer_name",
            "requested_amount",
            "approved_amount",
            "proposed_amount",
            "interest_rate",
            "risk_level",
            "reasons",
            "conditions",
            "awaiting_confirmation",
            "submitted_at",
            "assigned_at",
        ]
        read_only_fields = fields

    def get_awaiting_confirmation(self, application: LoanApplication) -> bool:
        return application.proposed_amount is not None


class DecisionSerializer(StrictFieldsMixin, serializers.Serializer):
    version = StrictIntegerField(min_value=1, help_text="The version you decided on (409 if it changed).")
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    amount = StrictDecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True, default=None
    )
    interest_rate = StrictDecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        required=False,
        allow_null=True,
        default=None,
    )
    reason_code = serializers.ChoiceField(choices=REJECTION_CODES, required=False, allow_blank=True, default="")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["decision"] == "reject" and not attrs["reason_code"]:
            raise serializers.ValidationError({"reason_code": ["State the reason for the rejection."]})
        return attrs


class ReviewQueueView(generics.ListAPIView):
    """Applications in manual review assigned to you, those awaiting your confirmation first."""

    permission_classes = [IsAuthenticated, CanReview]
    serializer_class = QueueItemSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return LoanApplication.objects.none()
        return selectors.review_queue(self.request.user)


class ReviewDecisionView(APIView):
    permission_classes = [IsAuthenticated, CanReview]

    @extend_schema(request=DecisionSerializer, responses={200: ApplicationSerializer})
    def post(self, request: Request, application_id: str) -> Response:
        """Approve or reject; above your approval limit an approval goes to your manager."""
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reject = data["decision"] == "reject"
        application = services.record_review_decision(
            application_id=application_id,
            expected_version=data["version"],
            reviewer_user=acting_user(request),
            approve=not reject,
            amount=data["amount"],
            interest_rate=data["interest_rate"],
            comment=data["comment"],
            reasons=[services.Reason(**reason(data["reason_code"]))] if reject else None,
        )
        return Response(ApplicationSerializer(application, context=dict(STAFF_READER)).data)
