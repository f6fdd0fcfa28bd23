"""Staff API door of manual journal entries: asking for one (maker-checker; services.manual_entries).
The answer is the approval request: 201 done at once below the threshold, 202 waiting."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.approvals import ApprovalRequestSerializer, approval_response
from loanproject.core.api.authentication import HasStaffPermission, StaffTokenAuthentication
from loanproject.core.api.serializers import StrictDecimalField, StrictFieldsMixin, StrictIntegerField
from loanproject.core.auth import acting_user
from loanproject.core.money import ZERO

from ..services.manual_entries import MANUAL_ENTRY_PERMISSION, MAX_LEGS, ManualLeg, request_manual_entry


def _money() -> StrictDecimalField:
    return StrictDecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, default=ZERO)


class ManualEntryLegSerializer(StrictFieldsMixin, serializers.Serializer[ManualLeg]):
    account = StrictIntegerField(min_value=1, max_value=2**63 - 1, help_text="The account's id.")
    debit = _money()
    credit = _money()


class ManualEntryRequestSerializer(StrictFieldsMixin, serializers.Serializer[None]):
    legs = serializers.ListField(child=ManualEntryLegSerializer(), max_length=MAX_LEGS)
    description = serializers.CharField(max_length=255)
    entry_date = serializers.DateField(required=False, help_text="Default: today; never in the future.")
    reason = serializers.CharField(max_length=500, help_text="Why it is booked by hand (the approver reads it).")


class ManualEntryView(APIView):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [HasStaffPermission]
    required_permissions = {"post": MANUAL_ENTRY_PERMISSION}

    @extend_schema(
        request=ManualEntryRequestSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to book a balanced entry by hand on the book's own accounts (never a party's: their "
        "balance must equal their open items), active and in one currency; each leg a positive debit or credit. "
        "Below the action's threshold (the total debits) it is booked at once (201, the request with its "
        "result); otherwise a second person approves it (202: the request, waiting in /approval-requests/). "
        "A bad leg is a 400 naming it; nothing is stored.",
    )
    def post(self, request: Request) -> Response:
        serializer = ManualEntryRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        asked = request_manual_entry(
            legs=[
                ManualLeg(account_id=leg["account"], debit=leg["debit"], credit=leg["credit"]) for leg in data["legs"]
            ],
            description=data["description"],
            entry_date=data.get("entry_date"),
            reason=data["reason"],
            requested_by=acting_user(request),
        )
        return approval_response(asked)
