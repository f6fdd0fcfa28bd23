"""Staff API door of posting a past week again (maker-checker: services.past_week_postings). The
answer is the approval request: 201 done at once below the threshold (its result names the run),
202 waiting for a second person."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.approvals import ApprovalRequestSerializer, approval_response
from loanproject.core.api.serializers import StrictFieldsMixin
from loanproject.core.auth import acting_user

from .. import services
from ..periods import business_date_validator, posting_week
from ..services.past_week_postings import POST_PAST_WEEK_PERMISSION
from .views import StaffAPIMixin


class PastWeekPostingRequestSerializer(StrictFieldsMixin, serializers.Serializer[None]):
    week = serializers.DateField(
        help_text="Any day of the week to post again, before this week (New York time).",
        validators=[business_date_validator],
    )
    reason = serializers.CharField(max_length=500, help_text="Why the week is posted again (the approver reads it).")


class PastWeekPostingView(StaffAPIMixin, APIView):
    required_permissions = {"post": POST_PAST_WEEK_PERMISSION}

    @extend_schema(
        request=PastWeekPostingRequestSerializer,
        responses={201: ApprovalRequestSerializer, 202: ApprovalRequestSerializer},
        description="Ask to post a week before the current one again (its lease fees, installments due by its end "
        "that no run posted). The amount compared with the action's threshold is what the run would post now. "
        "Below it the run starts at once (201, the request whose result names the run); otherwise a second person "
        "approves it (202: the request, waiting in /approval-requests/). The current week is posted with "
        "/loans/postings/ (400 here); one request per week waits at a time (409).",
    )
    def post(self, request: Request) -> Response:
        serializer = PastWeekPostingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        period_start, period_end = posting_week(serializer.validated_data["week"])
        asked = services.request_past_week_posting(
            period_start=period_start,
            period_end=period_end,
            reason=serializer.validated_data["reason"],
            requested_by=acting_user(request),
        )
        return approval_response(asked)
